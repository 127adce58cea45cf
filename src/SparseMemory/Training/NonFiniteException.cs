namespace SparseMemory.Training;

/// <summary>
/// A training run produced a non-finite value (NaN or ±infinity): the loss, the gradient norm, or a trainable weight
/// after the optimizer step. The trainer throws it before anything of that step is written (no metrics row, no
/// checkpoint), so the run folder still holds its last good checkpoint. The message names the step, the value and the
/// likely cause (docs/reliability.md).
/// </summary>
public sealed class NonFiniteException : TrainingDivergedException
{
    /// <summary>Creates the exception; <paramref name="what"/> is e.g. "loss" or "gradient norm".</summary>
    /// <param name="step">The 1-based step whose value is non-finite.</param>
    /// <param name="what">What is non-finite ("loss", "gradient norm", "weights of memory_values.weight", …).</param>
    /// <param name="value">The value (NaN or ±infinity), or null when a tensor holds it.</param>
    /// <param name="lr">The configured base learning rate.</param>
    public NonFiniteException(int step, string what, double? value, double lr)
        : base(step, $"the {what}{(value is double d ? $" is {Format(d)}" : " hold non-finite values (NaN or ±inf)")}", lr)
    {
        What = what;
        Value = value;
    }

    /// <summary>What is non-finite.</summary>
    public string What { get; }

    /// <summary>The non-finite value, or null when it is a tensor's content.</summary>
    public double? Value { get; }

    static string Format(double d) => double.IsNaN(d) ? "NaN" : d > 0 ? "+infinity" : "-infinity";
}

/// <summary>
/// A training run diverged: a non-finite value (<see cref="NonFiniteException"/>), or a finite one far outside its
/// normal range (the loss far above the first step's, or an updated memory value row far larger than any row was at the
/// start; <see cref="DivergenceGuard"/>). Thrown before anything of the step is written, with one message naming the
/// step, the value and the learning rate.
/// </summary>
public class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception; <paramref name="problem"/> says what is wrong ("the loss is 73.1, …").</summary>
    public TrainingDivergedException(int step, string problem, double lr) : base(Describe(step, problem, lr))
    {
        Step = step;
        Problem = problem;
        Lr = lr;
    }

    /// <summary>The 1-based step that diverged.</summary>
    public int Step { get; }

    /// <summary>What is wrong, as a clause of the message.</summary>
    public string Problem { get; }

    /// <summary>The configured base learning rate.</summary>
    public double Lr { get; }

    static string Describe(int step, string problem, double lr)
    {
        string lrText = lr.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
        string lower = (lr / 10).ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
        return $"training diverged at step {step}: {problem}; nothing of this step was saved and the run folder keeps its last good checkpoint. " +
               $"Likely cause: the learning rate (lr {lrText}) is too high for this model; try 10× lower (lr {lower}) in a new --out folder";
    }
}
