using SparseMemory.DataBuild.Facts;
using SparseMemory.Tests.Benchmarks;
using Xunit;
using R = SparseMemory.DataBuild.Facts.RelationTemplates;

namespace SparseMemory.Tests.Facts;

/// <summary>Package readers on small hand-made files in each package's own format (no data/raw needed).</summary>
public sealed class PackageFactsTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void Should_read_country_json_skipping_nulls()
    {
        var path = _tmp.Write("country-by-independence-date.json", [
            "[", "    {", "        \"country\": \"Ghana\",", "        \"independence\": 1957", "    },",
            "    { \"country\": \"Aruba\", \"independence\": null },", "    { \"country\": \"Côte  d'Ivoire\", \"independence\": 1960 }", "]"]);
        var facts = PackageFacts.ReadCountryJsonFile(path, "independence", R.IndependenceYear).ToList();
        Assert.Equal(2, facts.Count);
        Assert.Equal(new FactCandidate(R.IndependenceYear, "Ghana", "1957", [], "country-by-independence-date.json:2"), facts[0] with { Aliases = [] });
        Assert.Equal("Côte d'Ivoire", facts[1].Subject);
        Assert.Equal("country-by-independence-date.json:7", facts[1].Source);
    }

    [Fact]
    public void Should_reject_a_malformed_country_json_entry_naming_file_and_line()
    {
        var path = _tmp.Write("country-by-capital-city.json", ["[", "  {\"country\": \"Ghana\", \"city\": \"Accra\"},", "  {\"name\": \"Togo\", \"city\": \"Lomé\"}", "]"]);
        var e = Assert.Throws<InvalidDataException>(() => PackageFacts.ReadCountryJsonFile(path, "city", R.CountryCapital).ToList());
        Assert.Contains($"{path}:3:", e.Message);
        var broken = _tmp.Write("country-by-continent.json", ["[", "  {\"country\": \"Ghana\",", "   \"continent\": }", "]"]);
        e = Assert.Throws<InvalidDataException>(() => PackageFacts.ReadCountryJsonFile(broken, "continent", R.Continent).ToList());
        Assert.Contains($"{broken}:3:", e.Message);
    }

    [Fact]
    public void Should_read_kgeography_divisions_and_skip_ignored_or_capital_less_ones()
    {
        var path = _tmp.Write("japan.kgm", [
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>", "<!DOCTYPE kgeographyMap>", "<map>", "\t<name>Japan</name>",
            "    <divisionsName>Prefectures</divisionsName>",
            "\t<division>", "\t\t<name>Out of Bounds</name>", "\t\t<ignore>yes</ignore>", "\t</division>",
            "\t<division>", "\t\t<name>Iwate</name>", "\t\t<capital>Morioka</capital>", "\t</division>",
            "\t<division>", "\t\t<name>Nowhere</name>", "\t</division>", "</map>"]);
        var facts = PackageFacts.ReadKgm(path).ToList();
        var f = Assert.Single(facts);
        Assert.Equal((R.DivisionCapital, "Iwate", "Morioka", "japan.kgm:10", "Japan"), (f.Relation, f.Subject, f.Object, f.Source, f.Detail));
        var countries = _tmp.Write("world.kgm", ["<map><name>World</name><divisionsName>Countries</divisionsName>",
            "<division><name>Ghana</name><capital>Accra</capital></division></map>"]);
        Assert.Empty(PackageFacts.ReadKgm(countries));
    }

    [Fact]
    public void Should_reject_bad_kgeography_xml_naming_file_and_line()
    {
        var noName = _tmp.Write("a.kgm", ["<map>", "<name>A</name>", "<division>", "<capital>X</capital>", "</division>", "</map>"]);
        Assert.Contains($"{noName}:3:", Assert.Throws<InvalidDataException>(() => PackageFacts.ReadKgm(noName).ToList()).Message);
        var broken = _tmp.Write("b.kgm", ["<map>", "<name>B</name>", "<division><name>X</name>", "</map>"]);
        Assert.Contains($"{broken}:4:", Assert.Throws<InvalidDataException>(() => PackageFacts.ReadKgm(broken).ToList()).Message);
    }

    [Fact]
    public void Should_read_iso_subdivisions_with_common_country_names()
    {
        var c1 = _tmp.Write("iso_3166-1.json", ["{\"3166-1\": [",
            "  {\"alpha_2\": \"DZ\", \"name\": \"Algeria\"},",
            "  {\"alpha_2\": \"BO\", \"name\": \"Bolivia, Plurinational State of\", \"common_name\": \"Bolivia\"}", "]}"]);
        var c2 = _tmp.Write("iso_3166-2.json", ["{\"3166-2\": [",
            "  {\"code\": \"DZ-19\", \"name\": \"Sétif\", \"type\": \"Province\"},",
            "  {\"code\": \"BO-L\", \"name\": \"La Paz\", \"type\": \"Department\"},",
            "  {\"code\": \"BO-X\", \"name\": \"Praha, Hlavní město\", \"type\": \"Department\"}", "]}"]);
        var facts = PackageFacts.ReadIsoSubdivisions(c2, c1).ToList();
        Assert.Equal(2, facts.Count);
        Assert.Equal(("Sétif", "Algeria", "province", "iso_3166-2.json:2"), (facts[0].Subject, facts[0].Object, facts[0].Detail, facts[0].Source));
        Assert.Equal(("La Paz", "Bolivia"), (facts[1].Subject, facts[1].Object));

        var bad = _tmp.Write("bad_3166-2.json", ["{\"3166-2\": [", "  {\"code\": \"DZ-19\", \"name\": \"Sétif\", \"type\": \"Province\"},", "  {\"code\": \"XX-1\", \"name\": \"Y\", \"type\": \"Z\"}", "]}"]);
        Assert.Contains($"{bad}:3:", Assert.Throws<InvalidDataException>(() => PackageFacts.ReadIsoSubdivisions(bad, c1).ToList()).Message);
    }

    [Fact]
    public void Should_read_calendar_events_births_places_and_deaths()
    {
        var path = _tmp.Write("calendar.test", [
            "/*", " * History", " */", "", "#ifndef _calendar_test_", "LANG=UTF-8",
            "01/01\tCastro expels Cuban President Batista, 1959",
            "01/02\tCanada and the United States agree on a plan to preserve", "\tNiagara Falls, 1929",
            "01/04\tQuadrantid meteor shower (look north)",
            "01/19\tJanis Joplin is born in Port Arthur, Texas, 1943",
            "01/21\tLenin died, 1924",
            "02/04\tKen Thompson, creator of unix, born, 1943",
            "07/FriLast\tSystem Administrator Appreciation Day", "#endif"]);
        var facts = PackageFacts.ReadCalendar(path).Select(f => (f.Relation, f.Subject, f.Object, f.Source)).ToList();
        Assert.Equal(new[]
        {
            (R.EventYear, "Castro expels Cuban President Batista", "1959", "calendar.test:7"),
            (R.EventYear, "Canada and the United States agree on a plan to preserve Niagara Falls", "1929", "calendar.test:8"),
            (R.BirthYear, "Janis Joplin", "1943", "calendar.test:11"),
            (R.BirthPlace, "Janis Joplin", "Port Arthur, Texas", "calendar.test:11"),
            (R.DeathYear, "Lenin", "1924", "calendar.test:12"),
            (R.BirthYear, "Ken Thompson", "1943", "calendar.test:13"),
        }, facts);
        Assert.Contains("Port Arthur", PackageFacts.ReadCalendar(path).Single(f => f.Relation == R.BirthPlace).Aliases);
    }

    [Fact]
    public void Should_reject_a_malformed_calendar_line_naming_file_and_line()
    {
        var path = _tmp.Write("calendar.bad", ["01/01\tNew Year, 1900", "this is not a dated line"]);
        Assert.Contains($"{path}:2:", Assert.Throws<InvalidDataException>(() => PackageFacts.ReadCalendar(path).ToList()).Message);
    }

    [Fact]
    public void Should_expand_quiz_patterns_with_the_canonical_form_first()
    {
        Assert.Equal(["California", "Calif", "Cal", "CA"], QuizPattern.Expand("Cal{if{ornia}}|CA"));
        Assert.Equal("William I", QuizPattern.Expand("W[illia|]m [I|1|the Conqueror]")[0]);
        Assert.Equal("forget-me-not", QuizPattern.Expand("forget{-| }me{-| }not")[0]);
        Assert.Equal("St. John's", QuizPattern.Expand("[St.|Saint] John's")[0]);
        Assert.Equal(["actors", "soldiers"], QuizPattern.SplitAlternatives("actors|soldiers"));
        Assert.Equal("Barack Hussein Obama", QuizPattern.Preferred(QuizPattern.Expand("{B{arack} }{H{ussein} }Obama{ II}")));
        Assert.Throws<FormatException>(() => QuizPattern.Expand("Hen[ry|"));
    }

    [Fact]
    public void Should_read_quiz_files_with_continuations_and_split_subjects()
    {
        var pres = _tmp.Write("pres", ["{G{eorge} }Washington:1789-{17}97:{J{ohn} }Adams:{J{ohn} }Adams",
            "{T{homas} }Jefferson:1801-{{18}0}9:{A{aron} }Burr|{G{eorge} }Clinton:\\", "{J{ames} }Madison"]);
        var facts = PackageFacts.ReadQuizFile(pres, 4, 0, 3, R.PresidentSuccessor).ToList();
        Assert.Equal([("George Washington", "John Adams", "pres:1"), ("Thomas Jefferson", "James Madison", "pres:2")],
            facts.Select(f => (f.Subject, f.Object, f.Source)));
        Assert.Contains("Adams", facts[0].Aliases);

        var coll = _tmp.Write("collectives", ["actors|soldiers:company", "ants:colony|hill"]);
        var c = PackageFacts.ReadQuizFile(coll, 2, 0, 1, R.CollectiveNoun, splitSubject: true).ToList();
        Assert.Equal([("actors", "company"), ("soldiers", "company"), ("ants", "colony")], c.Select(f => (f.Subject, f.Object)));

        var bad = _tmp.Write("africa", ["Algeria:Algiers", "Angola:Luanda:extra"]);
        Assert.Contains($"{bad}:2:", Assert.Throws<InvalidDataException>(() => PackageFacts.ReadQuizFile(bad, 2, 0, 1, R.CountryCapital).ToList()).Message);
        var unbalanced = _tmp.Write("europe", ["Fr[ance:Paris"]);
        Assert.Contains($"{unbalanced}:1:", Assert.Throws<InvalidDataException>(() => PackageFacts.ReadQuizFile(unbalanced, 2, 0, 1, R.CountryCapital).ToList()).Message);
    }

    [Fact]
    public void Should_read_miscfiles_countries_and_airports()
    {
        var countries = _tmp.Write("countries.gz", ["# UN Code number: 2 letter ISO abbrev : 3 letter ISO abbrev : name : capital",
            "004:AF:AFG:Afghanistan:Kabul", "710:ZA:ZAF:South Africa:Pretoria (official), Cape Town (legislative)", "239:GS:SGS:South Georgia:"]);
        var c = Assert.Single(PackageFacts.ReadMiscCountries(countries));
        Assert.Equal((R.CountryCapital, "Afghanistan", "Kabul", "countries.gz:2"), (c.Relation, c.Subject, c.Object, c.Source));

        var airports = _tmp.Write("airport.gz", ["# Airport Code:Airport:Country Code:Geographic subdivision:Major city or cities serving",
            "ABE:Lehigh Valley International Airport:US:PA:Allentown, PA|Bethlehem, PA", "AAL:Aalborg:DK::Aalborg"]);
        Assert.Equal([("Lehigh Valley International", "ABE"), ("Aalborg", "AAL")], PackageFacts.ReadAirports(airports).Select(f => (f.Subject, f.Object)));

        var bad = _tmp.Write("airport2.gz", ["AAL:Aalborg:DK::Aalborg", "AAR:Aarhus"]);
        Assert.Contains($"{bad}:2:", Assert.Throws<InvalidDataException>(() => PackageFacts.ReadAirports(bad).ToList()).Message);
    }

    [Fact]
    public void Should_render_exact_statements_and_questions_from_templates()
    {
        var ghana = RelationTemplates.ToFact(new FactCandidate(R.CountryCapital, "Ghana", "Accra", ["ACCRA", "Akra"], "t:1"));
        Assert.Equal("country_capital/ghana", ghana.Id);
        Assert.Equal("What is the capital of Ghana?", ghana.Question);
        Assert.Equal(["The capital of Ghana is Accra.", "Accra is the capital of Ghana.", "Ghana's capital city is Accra.",
            "The capital city of Ghana is Accra.", "Ghana has its capital at Accra."], ghana.Statements);
        Assert.Equal(["Accra", "Akra"], ghana.Aliases);

        var setif = RelationTemplates.ToFact(new FactCandidate(R.SubdivisionCountry, "Sétif", "Algeria", [], "t:2", "province"));
        Assert.Equal("subdivision_country/sétif", setif.Id);
        Assert.Equal("Which country is Sétif in?", setif.Question);
        Assert.Equal("Sétif is a province of Algeria.", setif.Statements[0]);
        Assert.Equal("The province of Sétif lies in Algeria.", setif.Statements[3]);

        var apes = RelationTemplates.ToFact(new FactCandidate(R.CollectiveNoun, "owls", "parliament", [], "t:3"));
        Assert.Equal("What is a group of owls called?", apes.Question);
        Assert.Equal(["A group of owls is called a parliament.", "A parliament of owls.", "The collective noun for owls is parliament.",
            "We speak of a parliament of owls."], apes.Statements);
        var elk = RelationTemplates.ToFact(new FactCandidate(R.BabyAnimal, "elephant", "calf", [], "t:4"));
        Assert.Equal("A newborn elephant is a calf.", elk.Statements[2]);

        foreach (var relation in RelationTemplates.Names)
        {
            var f = RelationTemplates.ToFact(new FactCandidate(relation, "Xyz", "Qrs", [], "t", "region"));
            Assert.True(f.Statements.Count >= 4, relation);
            Assert.All(f.Statements, s => Assert.Contains("Qrs", s));
            Assert.Equal("Qrs", f.Aliases[0]);
        }
    }
}
