namespace SparseMemory.Training;

/// <summary>
/// A training run produced a non-finite value (NaN or ±infinity): the loss, the gradient norm, or a trainable weight
/// after the optimizer step. The trainer throws it before anything of that step is written (no metrics row, no
/// checkpoint), so the run folder still holds its last good checkpoint. The message names the step, the value and the
/// likely cause (docs/reliability.md).
/// </summary>
public sealed class NonFiniteException : Exception
{
    /// <summary>Creates the exception; <paramref name="what"/> is e.g. "loss" or "gradient norm".</summary>
    /// <param name="step">The 1-based step whose value is non-finite.</param>
    /// <param name="what">What is non-finite ("loss", "gradient norm", "weights of memory_values.weight", …).</param>
    /// <param name="value">The value (NaN or ±infinity), or null when a tensor holds it.</param>
    /// <param name="lr">The configured base learning rate.</param>
    public NonFiniteException(int step, string what, double? value, double lr)
        : base(Describe(step, what, value, lr))
    {
        Step = step;
        What = what;
        Value = value;
        Lr = lr;
    }

    /// <summary>The 1-based step whose value is non-finite.</summary>
    public int Step { get; }

    /// <summary>What is non-finite.</summary>
    public string What { get; }

    /// <summary>The non-finite value, or null when it is a tensor's content.</summary>
    public double? Value { get; }

    /// <summary>The configured base learning rate.</summary>
    public double Lr { get; }

    static string Describe(int step, string what, double? value, double lr)
    {
        string v = value is double d ? $" is {Format(d)}" : " hold non-finite values (NaN or ±inf)";
        string lrText = lr.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
        string lower = (lr / 10).ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
        return $"training diverged at step {step}: the {what}{v}; nothing of this step was saved and the run folder keeps its last good checkpoint. " +
               $"Likely cause: the learning rate (lr {lrText}) is too high for this model; try 10× lower (lr {lower}) in a new --out folder";
    }

    static string Format(double d) => double.IsNaN(d) ? "NaN" : d > 0 ? "+infinity" : "-infinity";
}
