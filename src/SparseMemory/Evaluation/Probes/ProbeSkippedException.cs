namespace SparseMemory.Evaluation.Probes;

/// <summary>Thrown by a probe whose data is not available (e.g. no <c>../shared/data/benchmarks</c>); the run goes on
/// with the other probes and this one is reported as skipped.</summary>
public sealed class ProbeSkippedException(string reason) : Exception(reason);
