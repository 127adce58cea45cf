using SparseMemory.DataBuild;
using SparseMemory.Data;
using Xunit;

namespace SparseMemory.Tests.Data;

public sealed class DefaultCorpusTests
{
    [Fact]
    public void Should_detokenize_brown_sentences()
    {
        string tagged = "The/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' was/bedz found/vbn ,/, (/( sic/rb )/) ./.";
        Assert.Equal("The jury said \"no evidence\" was found, (sic).", DefaultCorpusBuilder.DetokenizeBrown(tagged));
        Assert.Equal("He said, \"Go.\"", DefaultCorpusBuilder.DetokenizeBrown("He/pps said/vbd ,/, ``/`` Go/vb ./. ''/''"));
        Assert.Equal("1/2 of $5", DefaultCorpusBuilder.DetokenizeBrown("1/2/cd of/in $/nns 5/cd"));
    }

    [Fact]
    public void Should_render_wordnet_glosses()
    {
        string noun = "03643737 06 n 01 laser_printer 0 001 @ 03280644 n 0000 | electrostatic printer that focuses a laser beam  ";
        Assert.Equal("Laser printer is electrostatic printer that focuses a laser beam.", DefaultCorpusBuilder.RenderGloss(noun, "noun", out string lex));
        Assert.Equal("06", lex);
        string adj = "00001740 00 a 02 able 0 capable(a) 0 000 | (usually followed by `to') having the means; \"able to swim\"; \"she was able\"  ";
        Assert.Equal("Able (also capable) means (usually followed by 'to') having the means. Example: \"able to swim\".",
            DefaultCorpusBuilder.RenderGloss(adj, "adj", out _));
        string verb = "01926311 38 v 01 run 0 000 | move fast by using one's feet  ";
        Assert.Equal("To run means to move fast by using one's feet.", DefaultCorpusBuilder.RenderGloss(verb, "verb", out _));
    }

    [Fact]
    public void Should_strip_gutenberg_boilerplate()
    {
        string text = "licence blah\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nBody text.\nMore.\nEnd of Project Gutenberg's X, by Y\nlegal";
        Assert.Equal("Body text.\nMore.\n", DefaultCorpusBuilder.StripGutenbergBoilerplate(text));
        Assert.Equal("No markers.\n", DefaultCorpusBuilder.StripGutenbergBoilerplate("No markers.\n"));
    }

    [Fact]
    public void Should_embed_the_default_corpus()
    {
        int n = 0;
        foreach (string doc in TextCorpus.ReadDefaultCorpus().Take(50))
        {
            Assert.InRange(doc.Length, 80, 2500);
            n++;
        }
        Assert.Equal(50, n);
    }
}
