using SparseMemory.Data;
using SparseMemory.Data.Facts;
using static SparseMemory.DataBuild.Facts.FactText;

namespace SparseMemory.DataBuild.Facts;

/// <summary>
/// The relations read from packages, each with one question template and at least four statement templates.
/// Ids are <c>relation/slug-of-subject</c>, so a (subject, relation) pair has exactly one id.
/// </summary>
public static class RelationTemplates
{
    /// <summary>Country → capital city (country-json, miscfiles countries, bsdgames continent quizzes).</summary>
    public const string CountryCapital = "country_capital";
    /// <summary>Region, state or province → capital (kgeography maps, bsdgames state/province quizzes).</summary>
    public const string DivisionCapital = "division_capital";
    /// <summary>Country → continent (country-json).</summary>
    public const string Continent = "continent";
    /// <summary>Country → currency name (country-json).</summary>
    public const string Currency = "currency";
    /// <summary>Country → year of independence (country-json).</summary>
    public const string IndependenceYear = "independence_year";
    /// <summary>Country → national dish (country-json).</summary>
    public const string NationalDish = "national_dish";
    /// <summary>ISO 3166-2 subdivision → country (iso-codes); <see cref="FactCandidate.Detail"/> is the subdivision type.</summary>
    public const string SubdivisionCountry = "subdivision_country";
    /// <summary>Airport → IATA code (miscfiles airport).</summary>
    public const string AirportCode = "airport_code";
    /// <summary>Dated event → year (calendar history, computer, music).</summary>
    public const string EventYear = "event_year";
    /// <summary>Person → birth year (calendar birthday, music).</summary>
    public const string BirthYear = "birth_year";
    /// <summary>Person → birth place (calendar birthday, music).</summary>
    public const string BirthPlace = "birth_place";
    /// <summary>Person → death year (calendar birthday, music).</summary>
    public const string DeathYear = "death_year";
    /// <summary>Chemical element → symbol (bsdgames elements).</summary>
    public const string ElementSymbol = "element_symbol";
    /// <summary>Chemical element → atomic number (bsdgames elements).</summary>
    public const string AtomicNumber = "atomic_number";
    /// <summary>US president → successor (bsdgames pres).</summary>
    public const string PresidentSuccessor = "president_successor";
    /// <summary>English/British sovereign → successor (bsdgames sov).</summary>
    public const string MonarchSuccessor = "monarch_successor";
    /// <summary>Animals (plural) → collective noun (bsdgames collectives).</summary>
    public const string CollectiveNoun = "collective_noun";
    /// <summary>Animal → name of its young (bsdgames babies).</summary>
    public const string BabyAnimal = "baby_animal";
    /// <summary>US state → state flower (bsdgames state).</summary>
    public const string StateFlower = "state_flower";

    private sealed record Spec(Func<string, string?, string> Question, Func<string, string, string?, string>[] Statements);

    private static readonly Spec Capital = new(
        (s, _) => $"What is the capital of {s}?",
        [
            (s, o, _) => $"The capital of {s} is {o}.",
            (s, o, _) => $"{o} is the capital of {s}.",
            (s, o, _) => $"{Possessive(s)} capital city is {o}.",
            (s, o, _) => $"The capital city of {s} is {o}.",
            (s, o, _) => $"{s} has its capital at {o}.",
        ]);

    private static readonly Dictionary<string, Spec> Specs = new(StringComparer.Ordinal)
    {
        [CountryCapital] = Capital,
        [DivisionCapital] = Capital,
        [Continent] = new((s, _) => $"On which continent is {s}?",
        [
            (s, o, _) => $"{s} is a country in {o}.",
            (s, o, _) => $"{s} is located in {o}.",
            (s, o, _) => $"{s} lies on the continent of {o}.",
            (s, o, _) => $"The continent of {s} is {o}.",
            (s, o, _) => $"{o} is the continent where {s} lies.",
        ]),
        [Currency] = new((s, _) => $"What is the currency of {s}?",
        [
            (s, o, _) => $"The currency of {s} is the {o}.",
            (s, o, _) => $"{s} pays with the {o}.",
            (s, o, _) => $"The {o} is the currency of {s}.",
            (s, o, _) => $"{Possessive(s)} official currency is the {o}.",
            (s, o, _) => $"In {s}, people pay in {o}.",
        ]),
        [IndependenceYear] = new((s, _) => $"In what year did {s} become independent?",
        [
            (s, o, _) => $"{s} became independent in {o}.",
            (s, o, _) => $"{s} gained its independence in {o}.",
            (s, o, _) => $"In {o}, {s} became an independent country.",
            (s, o, _) => $"The independence of {s} dates from {o}.",
            (s, o, _) => $"{Possessive(s)} year of independence is {o}.",
        ]),
        [NationalDish] = new((s, _) => $"What is the national dish of {s}?",
        [
            (s, o, _) => $"The national dish of {s} is {o}.",
            (s, o, _) => $"{o} is the national dish of {s}.",
            (s, o, _) => $"{Possessive(s)} national dish is {o}.",
            (s, o, _) => $"In {s}, the national dish is {o}.",
        ]),
        [SubdivisionCountry] = new((s, _) => $"Which country is {s} in?",
        [
            (s, o, d) => $"{s} is {Article(d ?? "region")} {d ?? "region"} of {o}.",
            (s, o, _) => $"{s} is in {o}.",
            (s, o, _) => $"{s} is part of {o}.",
            (s, o, d) => $"The {d ?? "region"} of {s} lies in {o}.",
            (s, o, _) => $"{o} is the country that {s} belongs to.",
        ]),
        [AirportCode] = new((s, _) => $"What is the airport code of {s}?",
        [
            (s, o, _) => $"The airport code of {s} is {o}.",
            (s, o, _) => $"{s} airport has the code {o}.",
            (s, o, _) => $"{o} is the code of {s} airport.",
            (s, o, _) => $"Flights to {s} airport are marked {o}.",
        ]),
        [EventYear] = new((s, _) => $"In what year did this happen: {s}?",
        [
            (s, o, _) => $"{s}, in {o}.",
            (s, o, _) => $"In {o}: {s}.",
            (s, o, _) => $"The year {o} saw this: {s}.",
            (s, o, _) => $"{s}. That was in {o}.",
        ]),
        [BirthYear] = new((s, _) => $"In what year was {s} born?",
        [
            (s, o, _) => $"{s} was born in {o}.",
            (s, o, _) => $"In {o}, {s} was born.",
            (s, o, _) => $"The birth year of {s} is {o}.",
            (s, o, _) => $"{s} was born in the year {o}.",
        ]),
        [BirthPlace] = new((s, _) => $"Where was {s} born?",
        [
            (s, o, _) => $"{s} was born in {o}.",
            (s, o, _) => $"The birthplace of {s} is {o}.",
            (s, o, _) => $"{o} is where {s} was born.",
            (s, o, _) => $"{s} came into the world in {o}.",
        ]),
        [DeathYear] = new((s, _) => $"In what year did {s} die?",
        [
            (s, o, _) => $"{s} died in {o}.",
            (s, o, _) => $"In {o}, {s} died.",
            (s, o, _) => $"The death of {s} came in {o}.",
            (s, o, _) => $"{s} passed away in the year {o}.",
        ]),
        [ElementSymbol] = new((s, _) => $"What is the chemical symbol of {s}?",
        [
            (s, o, _) => $"The chemical symbol of {s} is {o}.",
            (s, o, _) => $"{o} is the symbol for {s}.",
            (s, o, _) => $"{s} has the symbol {o}.",
            (s, o, _) => $"Chemists write {s} as {o}.",
        ]),
        [AtomicNumber] = new((s, _) => $"What is the atomic number of {s}?",
        [
            (s, o, _) => $"The atomic number of {s} is {o}.",
            (s, o, _) => $"{s} has atomic number {o}.",
            (s, o, _) => $"Element number {o} is {s}.",
            (s, o, _) => $"An atom of {s} has {o} protons.",
        ]),
        [PresidentSuccessor] = new((s, _) => $"Who succeeded {s} as US president?",
        [
            (s, o, _) => $"{o} succeeded {s} as US president.",
            (s, o, _) => $"{s} was followed as president by {o}.",
            (s, o, _) => $"After {s}, {o} became president.",
            (s, o, _) => $"The president after {s} was {o}.",
        ]),
        [MonarchSuccessor] = new((s, _) => $"Who succeeded {s} on the English throne?",
        [
            (s, o, _) => $"{o} succeeded {s} on the English throne.",
            (s, o, _) => $"{s} was followed on the throne by {o}.",
            (s, o, _) => $"After {s}, {o} became the sovereign.",
            (s, o, _) => $"The successor of {s} was {o}.",
        ]),
        [CollectiveNoun] = new((s, _) => $"What is a group of {s} called?",
        [
            (s, o, _) => $"A group of {s} is called {Article(o)} {o}.",
            (s, o, _) => $"{Capitalize(Article(o))} {o} of {s}.",
            (s, o, _) => $"The collective noun for {s} is {o}.",
            (s, o, _) => $"We speak of {Article(o)} {o} of {s}.",
        ]),
        [BabyAnimal] = new((s, _) => $"What is a baby {s} called?",
        [
            (s, o, _) => $"A baby {s} is called {Article(o)} {o}.",
            (s, o, _) => $"The young of the {s} is called {Article(o)} {o}.",
            (s, o, _) => $"A newborn {s} is {Article(o)} {o}.",
            (s, o, _) => $"{Capitalize(Article(o))} {o} is a young {s}.",
        ]),
        [StateFlower] = new((s, _) => $"What is the state flower of {s}?",
        [
            (s, o, _) => $"The state flower of {s} is the {o}.",
            (s, o, _) => $"{Possessive(s)} state flower is the {o}.",
            (s, o, _) => $"The {o} is the state flower of {s}.",
            (s, o, _) => $"{s} chose the {o} as its state flower.",
        ]),
    };

    /// <summary>Every relation name, in ordinal order.</summary>
    public static IReadOnlyList<string> Names { get; } = Specs.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>The id of a (subject, relation) pair: <c>relation/slug</c>.</summary>
    public static string Id(string relation, string subject) => $"{relation}/{Slug(subject)}";

    /// <summary>The probe question for a candidate.</summary>
    public static string Question(FactCandidate candidate) => Get(candidate.Relation).Question(candidate.Subject, candidate.Detail);

    /// <summary>Renders a candidate as a <see cref="Fact"/>: id, question, every statement template, aliases (object first).</summary>
    public static Fact ToFact(FactCandidate candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var spec = Get(candidate.Relation);
        var (s, o, d) = (candidate.Subject, candidate.Object, candidate.Detail);
        var statements = spec.Statements.Select(t => Capitalize(t(s, o, d))).Distinct(StringComparer.Ordinal).ToArray();
        var aliases = new List<string> { o };
        foreach (var a in candidate.Aliases)
            if (!aliases.Contains(a, StringComparer.OrdinalIgnoreCase)) aliases.Add(a);
        return new Fact(Id(candidate.Relation, s), s, candidate.Relation, o, aliases, Capitalize(spec.Question(s, d)), statements, candidate.Source);
    }

    private static Spec Get(string relation) =>
        Specs.TryGetValue(relation, out var spec) ? spec
            : throw new ArgumentException($"unknown relation \"{relation}\"; known: {string.Join(", ", Names)}", nameof(relation));

    private static string Capitalize(string text) =>
        text.Length == 0 || !char.IsLower(text[0]) ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
