using Xunit;

// Torch's global RNG and grad mode are process-wide, and two training tests on 2 cores slow each other 5–8×:
// run test classes one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
