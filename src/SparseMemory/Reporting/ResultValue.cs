using System.Globalization;

namespace SparseMemory.Reporting;

/// <summary>
/// One scalar read from a result file: a number, a text, or null (JSON null). Booleans are the texts
/// <c>true</c>/<c>false</c>; the strings <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c> are numbers.
/// </summary>
public readonly record struct ResultValue
{
    /// <summary>The number, when the value is one.</summary>
    public double? Number { get; }

    /// <summary>The text, when the value is one.</summary>
    public string? Text { get; }

    ResultValue(double? number, string? text) => (Number, Text) = (number, text);

    /// <summary>JSON null.</summary>
    public static ResultValue Null => default;

    /// <summary>A number.</summary>
    public static ResultValue Of(double number) => new(number, null);

    /// <summary>A text.</summary>
    public static ResultValue Of(string text) => new(null, text);

    /// <summary>True for JSON null.</summary>
    public bool IsNull => Number is null && Text is null;

    /// <summary>The number (invariant culture, round-trip), the text, or <c>null</c>.</summary>
    public override string ToString() =>
        Number is double d ? d.ToString("R", CultureInfo.InvariantCulture) : Text ?? "null";
}
