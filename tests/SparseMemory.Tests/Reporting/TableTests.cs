using SparseMemory.Reporting;
using Xunit;

namespace SparseMemory.Tests.Reporting;

public sealed class TableTests
{
    static Table Sample()
    {
        var t = new Table("results", new TableColumn("method"), new TableColumn("f1", ColumnAlign.Right), new TableColumn("steps", ColumnAlign.Right));
        t.AddRow("sparse", TableCell.Of(0.8126, "F3"), 1200L);
        t.AddRow("full finetune", TableCell.Of(0.5, "F3"), 40L);
        return t;
    }

    [Fact]
    public void Text_is_fixed_width_with_right_aligned_numbers()
    {
        var lines = Sample().ToText().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["results",
                      "method            f1  steps",
                      "-------------  -----  -----",
                      "sparse         0.813   1200",
                      "full finetune  0.500     40"], lines);
    }

    [Fact]
    public void Markdown_has_alignment_row_and_escapes_pipes()
    {
        var t = new Table(null, new TableColumn("name"), new TableColumn("value", ColumnAlign.Right));
        t.AddRow("a|b", 1234.5);
        t.AddRow("line\nbreak", TableCell.Of(1234.5, "N1"));
        Assert.Equal("| name | value |\n| :--- | ---: |\n| a\\|b | 1234 |\n| line break | 1,234.5 |\n", t.ToMarkdown());
        Assert.StartsWith("**results**\n\n| method | f1 | steps |", Sample().ToMarkdown());
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Non_finite_numbers_render_as_missing(double v)
    {
        var t = new Table("t", new TableColumn("k"), new TableColumn("v", ColumnAlign.Right));
        t.AddRow("x", TableCell.Of(v, "F2"));
        t.AddRow("none", TableCell.Of((double?)null));
        t.AddRow("empty");
        var text = t.ToText().Split('\n');
        Assert.Equal("x      —", text[3]);
        Assert.Equal("none   —", text[4]);
        Assert.Equal("empty", text[5]);
        Assert.Contains("| x | n/a |", t.ToMarkdown());
        Assert.Contains("| none | n/a |", t.ToMarkdown());
        Assert.Contains("| empty |  |", t.ToMarkdown());
    }

    [Fact]
    public void Numbers_use_the_invariant_culture_whatever_the_current_one()
    {
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            var custom = (System.Globalization.CultureInfo)System.Globalization.CultureInfo.InvariantCulture.Clone();
            custom.NumberFormat.NumberDecimalSeparator = ",";
            custom.NumberFormat.NumberGroupSeparator = ".";
            System.Globalization.CultureInfo.CurrentCulture = custom;
            Assert.Equal("1,234.50", TableCell.Of(1234.5, "N2").Render("?"));
            Assert.Equal("0.25", TableCell.Of(0.25).Render("?"));
        }
        finally { System.Globalization.CultureInfo.CurrentCulture = saved; }
    }

    [Fact]
    public void Rows_are_padded_and_too_many_cells_are_an_error()
    {
        var t = new Table("t", new TableColumn("a"), new TableColumn("b"));
        t.AddRow("only a");
        Assert.Equal(2, t.Rows[0].Count);
        Assert.Throws<ArgumentException>(() => t.AddRow("1", "2", "3"));
        Assert.Throws<ArgumentException>(() => new Table("t"));
    }
}
