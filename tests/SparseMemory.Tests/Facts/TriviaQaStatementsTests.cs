using SparseMemory.Data.Facts;
using Xunit;

namespace SparseMemory.Tests.Facts;

public sealed class TriviaQaStatementsTests
{
    // Real questions and answers from llmf/triviaqa_sm_sub.jsonl, with the statement each rule must produce.
    public static TheoryData<string, string, string, StatementRule> RealQuestions => new()
    {
        { "Who captained the England rugby union team 59 times between 1988 and 1996?", "Will Carling",
            "Will Carling captained the England rugby union team 59 times between 1988 and 1996.", StatementRule.WhoSubject },
        { "Which British monarch founded the Yeomen of the Guard, originally as a royal bodyguard?", "Henry VII",
            "Henry VII founded the Yeomen of the Guard, originally as a royal bodyguard.", StatementRule.WhSubjectVerb },
        { "Which German city is served by 'Lohausen Airport'?", "DUSSELDORF",
            "Dusseldorf is served by 'Lohausen Airport'.", StatementRule.CopulaAnswerFirst },
        { "What is the name of the town in which the Meerkats live in the adverts for comparethemarket.com?", "Meerkovo",
            "The name of the town in which the Meerkats live in the adverts for comparethemarket.com is Meerkovo.", StatementRule.CopulaAnswerLast },
        { "\"What type of clothing is a \"\"sou-wester\"\"?\"", "Hat",
            "A \"sou-wester\" is Hat.", StatementRule.CopulaAnswerLast },
        { "Thomas the Tank Engine pulled two coaches. One was Clarabel. What was the other?", "Annie",
            "Thomas the Tank Engine pulled two coaches. One was Clarabel. The other was Annie.", StatementRule.CopulaAnswerLast },
        { "Which fruit did Nell Gwynn, mistress of King Charles II, sell in Drury Lane?", "Oranges",
            "The fruit that Nell Gwynn, mistress of King Charles II, sold in Drury Lane was Oranges.", StatementRule.ObjectCleft },
        { "In which year was Sputnik, the first man-made satellite, launched?", "1957",
            "Sputnik, the first man-made satellite, was launched in 1957.", StatementRule.PrepositionFronted },
        { "In which European city is the Belvederen Gallery?", "Vienna",
            "The Belvederen Gallery is in Vienna.", StatementRule.PrepositionFronted },
        { "When was the first stamp, the Penny Black, issued in Britain?", "1840",
            "The first stamp, the Penny Black, was issued in Britain in 1840.", StatementRule.WhereWhen },
        { "How many cards are needed to play Canasta", "108",
            "108 cards are needed to play Canasta.", StatementRule.HowMany },
        { "In music how many quavers make a minim?", "Four (4)",
            "In music, Four (4) quavers make a minim.", StatementRule.HowMany },
        { "What is the 'Pritzker Prize' awarded for?", "Architecture",
            "The 'Pritzker Prize' is awarded for Architecture.", StatementRule.StrandedPreposition },
        { "How is the Shakespeare character 'Robin Goodfellow' better known?", "Puck",
            "The Shakespeare character 'Robin Goodfellow' is better known as Puck.", StatementRule.HowKnown },
        { "Flanders is part of what country?", "Belgium",
            "Flanders is part of Belgium.", StatementRule.InSitu },
        { "Gene Hackman won the Best Actor Oscar in 1971, for which film?", "The French Connection",
            "Gene Hackman won the Best Actor Oscar in 1971, for The French Connection.", StatementRule.InSitu },
        { "The particle physics unit of reactionary particle decay is?", "Strangeness",
            "The particle physics unit of reactionary particle decay is Strangeness.", StatementRule.Completion },
        { "Why was the 1967 R.A.C. Rally not staged", "Outbreak of foot and mouth disease",
            "The 1967 R.A.C. Rally not staged: Outbreak of foot and mouth disease.", StatementRule.Fallback },
    };

    [Theory]
    [MemberData(nameof(RealQuestions))]
    public void Should_turn_real_questions_into_exact_statements(string question, string answer, string expected, StatementRule rule)
    {
        var statement = TriviaQaStatements.Make(question, answer);
        Assert.Equal(expected, statement.Text);
        Assert.Equal(rule, statement.Rule);
    }

    [Fact]
    public void Should_offer_reorderings_as_alternatives()
    {
        var statement = TriviaQaStatements.Make("In music how many quavers make a minim?", "Four (4)");
        Assert.Equal(["Four (4) quavers make a minim in music."], statement.Alternatives);
    }

    [Fact]
    public void Should_title_case_all_capital_answers_only_when_longer_than_three_letters()
    {
        Assert.Equal("George Orwell", TriviaQaStatements.DisplayAnswer("GEORGE ORWELL"));
        Assert.Equal("USA", TriviaQaStatements.DisplayAnswer("USA"));
        Assert.Equal("a Pumpkin", TriviaQaStatements.DisplayAnswer("a Pumpkin"));
    }

    [Fact]
    public void Should_count_rules_summing_to_the_total()
    {
        var statements = RealQuestions.Select(row => TriviaQaStatements.Make((string)row[0], (string)row[1])).ToList();
        var counts = TriviaQaStatements.RuleCounts(statements);
        Assert.Equal(statements.Count, counts.Values.Sum());
        Assert.Equal(2, counts[StatementRule.PrepositionFronted]);
        Assert.Equal(Enum.GetValues<StatementRule>().Length, counts.Count);
    }
}
