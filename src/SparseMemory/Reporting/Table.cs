using System.Globalization;
using System.Text;

namespace SparseMemory.Reporting;

/// <summary>Horizontal alignment of a table column.</summary>
public enum ColumnAlign
{
    /// <summary>Cells start at the left edge (text).</summary>
    Left,
    /// <summary>Cells end at the right edge (numbers).</summary>
    Right,
}

/// <summary>One table column: its header and alignment.</summary>
/// <param name="Header">Header text.</param>
/// <param name="Align">Alignment of the header and the cells.</param>
public sealed record TableColumn(string Header, ColumnAlign Align = ColumnAlign.Left);

/// <summary>
/// One table cell: text, a number with a .NET format string (rendered with the invariant culture), or empty.
/// Strings and doubles convert to cells implicitly.
/// </summary>
public readonly record struct TableCell
{
    /// <summary>Default number format: four significant digits.</summary>
    public const string DefaultFormat = "G4";

    /// <summary>The text of a text cell; null for a number or an empty cell.</summary>
    public string? Text { get; }

    /// <summary>The value of a number cell; null for a text or an empty cell.</summary>
    public double? Number { get; }

    /// <summary>The format string of a number cell (e.g. <c>F3</c>, <c>G4</c>, <c>N0</c>).</summary>
    public string Format { get; }

    /// <summary>True for a number cell (its value may still be null or not finite).</summary>
    public bool IsNumber { get; }

    TableCell(string? text, double? number, bool isNumber, string format) => (Text, Number, IsNumber, Format) = (text, number, isNumber, format);

    /// <summary>An empty cell.</summary>
    public static TableCell Empty => new(null, null, false, DefaultFormat);

    /// <summary>A text cell.</summary>
    public static TableCell Of(string? text) => new(text, null, false, DefaultFormat);

    /// <summary>A number cell; a null or non-finite value renders as missing.</summary>
    public static TableCell Of(double? value, string format = DefaultFormat) => new(null, value, true, format);

    /// <summary>A text cell.</summary>
    public static implicit operator TableCell(string? text) => Of(text);

    /// <summary>A number cell with <see cref="DefaultFormat"/>.</summary>
    public static implicit operator TableCell(double value) => Of(value);

    /// <summary>A count cell (no decimals).</summary>
    public static implicit operator TableCell(long value) => Of(value, "0");

    /// <summary>The cell's text; a null or non-finite number is <paramref name="missing"/>, an empty cell is "".</summary>
    public string Render(string missing)
    {
        if (!IsNumber) return Text ?? "";
        return Number is double d && double.IsFinite(d) ? d.ToString(Format, CultureInfo.InvariantCulture) : missing;
    }
}

/// <summary>
/// A small table (title, columns, rows) rendered as fixed-width text for the terminal (<see cref="ToText"/>) or as a
/// GitHub Markdown table (<see cref="ToMarkdown"/>). Non-finite numbers render as <see cref="MissingText"/> /
/// <see cref="MissingMarkdown"/>.
/// </summary>
public sealed class Table
{
    /// <summary>How a missing or non-finite number reads in <see cref="ToText"/>.</summary>
    public const string MissingText = "—";

    /// <summary>How a missing or non-finite number reads in <see cref="ToMarkdown"/>.</summary>
    public const string MissingMarkdown = "n/a";

    readonly List<TableColumn> _columns;
    readonly List<TableCell[]> _rows = [];

    /// <summary>A table with the given title (null for none) and columns.</summary>
    public Table(string? title, IEnumerable<TableColumn> columns)
    {
        Title = title;
        _columns = columns.ToList();
        if (_columns.Count == 0) throw new ArgumentException("a table needs at least one column", nameof(columns));
    }

    /// <summary>A table with the given title (null for none) and columns.</summary>
    public Table(string? title, params TableColumn[] columns) : this(title, (IEnumerable<TableColumn>)columns) { }

    /// <summary>Title shown above the table; null for none.</summary>
    public string? Title { get; }

    /// <summary>The columns, in order.</summary>
    public IReadOnlyList<TableColumn> Columns => _columns;

    /// <summary>The rows added so far; each has one cell per column.</summary>
    public IReadOnlyList<IReadOnlyList<TableCell>> Rows => _rows;

    /// <summary>Appends a row; fewer cells than columns are padded with empty cells, more are an error.</summary>
    public Table AddRow(params TableCell[] cells)
    {
        if (cells.Length > _columns.Count)
            throw new ArgumentException($"row has {cells.Length} cells but the table has {_columns.Count} columns", nameof(cells));
        var row = new TableCell[_columns.Count];
        for (int i = 0; i < row.Length; i++) row[i] = i < cells.Length ? cells[i] : TableCell.Empty;
        _rows.Add(row);
        return this;
    }

    /// <summary>Fixed-width text: the title, a header line, a rule, one line per row; columns two spaces apart.</summary>
    public string ToText()
    {
        var header = _columns.Select(c => OneLine(c.Header)).ToArray();
        var cells = _rows.Select(r => r.Select(c => OneLine(c.Render(MissingText))).ToArray()).ToList();
        var widths = new int[_columns.Count];
        for (int i = 0; i < widths.Length; i++)
            widths[i] = Math.Max(header[i].Length, cells.Count == 0 ? 0 : cells.Max(r => r[i].Length));
        var sb = new StringBuilder();
        if (!string.IsNullOrEmpty(Title)) sb.Append(OneLine(Title)).Append('\n');
        AppendLine(sb, header, widths);
        sb.Append(string.Join("  ", widths.Select(w => new string('-', w)))).Append('\n');
        foreach (var r in cells) AppendLine(sb, r, widths);
        return sb.ToString();
    }

    /// <summary>A GitHub Markdown table, preceded by the title in bold; <c>|</c> in cells is escaped.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        if (!string.IsNullOrEmpty(Title)) sb.Append("**").Append(Md(Title)).Append("**\n\n");
        sb.Append("| ").Append(string.Join(" | ", _columns.Select(c => Md(c.Header)))).Append(" |\n");
        sb.Append('|').Append(string.Join("|", _columns.Select(c => c.Align == ColumnAlign.Right ? " ---: " : " :--- "))).Append("|\n");
        foreach (var r in _rows)
            sb.Append("| ").Append(string.Join(" | ", r.Select(c => Md(c.Render(MissingMarkdown))))).Append(" |\n");
        return sb.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => ToText();

    void AppendLine(StringBuilder sb, string[] cells, int[] widths)
    {
        var parts = new string[cells.Length];
        for (int i = 0; i < cells.Length; i++)
            parts[i] = _columns[i].Align == ColumnAlign.Right ? cells[i].PadLeft(widths[i]) : cells[i].PadRight(widths[i]);
        sb.Append(string.Join("  ", parts).TrimEnd()).Append('\n');
    }

    static string OneLine(string s) => s.Replace("\r\n", " ").Replace('\n', ' ').Replace('\r', ' ').Replace('\t', ' ');

    static string Md(string s) => OneLine(s).Replace("\\", "\\\\").Replace("|", "\\|");
}
