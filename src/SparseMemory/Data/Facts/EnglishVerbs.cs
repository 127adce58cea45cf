namespace SparseMemory.Data.Facts;

/// <summary>
/// A deliberately small English verb lexicon for the statement rules: auxiliaries, irregular verbs and the
/// regular verbs frequent in trivia questions, with past tense and third-person inflection.
/// </summary>
internal static class EnglishVerbs
{
    public static readonly HashSet<string> Be = new(StringComparer.Ordinal) { "is", "was", "are", "were" };
    public static readonly HashSet<string> Have = new(StringComparer.Ordinal) { "has", "had", "have" };
    public static readonly HashSet<string> Do = new(StringComparer.Ordinal) { "did", "does", "do" };
    public static readonly HashSet<string> Modals = new(StringComparer.Ordinal)
        { "can", "could", "will", "would", "shall", "should", "may", "might", "must" };

    /// <summary>Adverbs that travel with a following participle ("better known").</summary>
    public static readonly HashSet<string> Adverbs = new(StringComparer.Ordinal)
    {
        "better", "best", "most", "more", "also", "first", "originally", "commonly", "usually", "popularly", "famously",
        "still", "now", "once", "traditionally", "generally", "mainly", "mostly", "widely", "jointly", "last",
        "actually", "officially", "often", "always", "never", "supposedly", "reputedly", "allegedly", "finally",
    };

    /// <summary>Words after which a verb cannot follow directly (so "the play" is not the verb "play").</summary>
    public static readonly HashSet<string> Determiners = new(StringComparer.Ordinal)
    {
        "the", "a", "an", "his", "her", "its", "their", "our", "my", "your", "this", "that", "these", "those", "of",
    };

    // base, past, past participle
    private static readonly string[][] Irregular =
    [
        ["become", "became", "become"], ["begin", "began", "begun"], ["bite", "bit", "bitten"], ["blow", "blew", "blown"],
        ["break", "broke", "broken"], ["bring", "brought", "brought"], ["build", "built", "built"], ["buy", "bought", "bought"],
        ["catch", "caught", "caught"], ["choose", "chose", "chosen"], ["come", "came", "come"], ["cost", "cost", "cost"],
        ["cut", "cut", "cut"], ["dig", "dug", "dug"], ["draw", "drew", "drawn"], ["drink", "drank", "drunk"],
        ["drive", "drove", "driven"], ["eat", "ate", "eaten"], ["fall", "fell", "fallen"], ["feed", "fed", "fed"],
        ["feel", "felt", "felt"], ["fight", "fought", "fought"], ["find", "found", "found"], ["fly", "flew", "flown"],
        ["forget", "forgot", "forgotten"], ["freeze", "froze", "frozen"], ["get", "got", "got"], ["give", "gave", "given"],
        ["go", "went", "gone"], ["grow", "grew", "grown"], ["hang", "hung", "hung"], ["hear", "heard", "heard"],
        ["hide", "hid", "hidden"], ["hit", "hit", "hit"], ["hold", "held", "held"], ["keep", "kept", "kept"],
        ["know", "knew", "known"], ["lay", "laid", "laid"], ["lead", "led", "led"], ["leave", "left", "left"],
        ["lend", "lent", "lent"], ["let", "let", "let"], ["lose", "lost", "lost"], ["make", "made", "made"],
        ["mean", "meant", "meant"], ["meet", "met", "met"], ["pay", "paid", "paid"], ["put", "put", "put"],
        ["read", "read", "read"], ["ride", "rode", "ridden"], ["ring", "rang", "rung"], ["rise", "rose", "risen"],
        ["run", "ran", "run"], ["say", "said", "said"], ["see", "saw", "seen"], ["sell", "sold", "sold"],
        ["send", "sent", "sent"], ["set", "set", "set"], ["shake", "shook", "shaken"], ["shoot", "shot", "shot"],
        ["show", "showed", "shown"], ["sing", "sang", "sung"], ["sink", "sank", "sunk"], ["sit", "sat", "sat"],
        ["sleep", "slept", "slept"], ["speak", "spoke", "spoken"], ["spend", "spent", "spent"], ["stand", "stood", "stood"],
        ["steal", "stole", "stolen"], ["stick", "stuck", "stuck"], ["strike", "struck", "struck"], ["swim", "swam", "swum"],
        ["take", "took", "taken"], ["teach", "taught", "taught"], ["tell", "told", "told"], ["think", "thought", "thought"],
        ["throw", "threw", "thrown"], ["wear", "wore", "worn"], ["win", "won", "won"], ["write", "wrote", "written"],
        ["light", "lit", "lit"], ["spin", "spun", "spun"], ["swing", "swung", "swung"], ["tear", "tore", "torn"],
        ["wake", "woke", "woken"], ["bear", "bore", "born"], ["beat", "beat", "beaten"], ["bind", "bound", "bound"],
        ["breed", "bred", "bred"], ["shine", "shone", "shone"], ["slay", "slew", "slain"], ["forbid", "forbade", "forbidden"],
        ["have", "had", "had"], ["do", "did", "done"], ["be", "was", "been"],
    ];

    private static readonly string[] Regular =
    [
        "play", "call", "name", "invent", "discover", "marry", "die", "live", "use", "release", "record", "design",
        "paint", "compose", "direct", "start", "open", "close", "represent", "appear", "kill", "murder",
        "assassinate", "defeat", "score", "finish", "join", "create", "launch", "introduce", "star", "host",
        "present", "publish", "establish", "form", "perform", "produce", "develop", "sign", "celebrate", "visit",
        "travel", "land", "climb", "cross", "reach", "sail", "arrive", "return", "retire", "resign", "succeed",
        "replace", "rule", "reign", "govern", "invade", "conquer", "capture", "destroy", "attack", "crash",
        "explode", "occur", "happen", "end", "last", "change", "receive", "award", "earn", "ban", "abolish",
        "adopt", "add", "ask", "believe", "belong", "carry", "cause", "claim", "coin", "collect", "contain",
        "cover", "decide", "describe", "divorce", "dub", "enter", "escape", "feature", "follow", "help", "hunt",
        "include", "inspire", "invite", "jump", "kick", "learn", "like", "look", "love", "manage", "mark", "move",
        "need", "offer", "order", "own", "pass", "pick", "place", "plan", "portray", "pull", "push", "race",
        "raise", "refer", "remain", "report", "rescue", "save", "serve", "settle", "share", "shout", "smoke",
        "stay", "stop", "study", "suffer", "supply", "support", "surrender", "talk", "translate", "treat", "try",
        "turn", "vote", "walk", "want", "wash", "watch", "wish", "work", "bury", "found", "act", "base", "born",
        "brew", "consist", "depict", "drop", "elect", "export", "hatch", "inherit", "invest", "kidnap", "knight",
        "list", "locate", "nickname", "originate", "own", "patent", "pilot", "predict", "prefer", "propose",
        "qualify", "rename", "stage", "steer", "train", "unveil", "compete", "consume", "fear", "derive", "stand",
    ];

    private static readonly HashSet<string> Doubling = new(StringComparer.Ordinal)
    {
        "stop", "plan", "ban", "drop", "star", "refer", "occur", "kidnap", "prefer", "dub", "rob", "ship", "step",
    };

    private static readonly Dictionary<string, string> PastOf = new(StringComparer.Ordinal);
    private static readonly HashSet<string> Participles = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, string> BaseOf = new(StringComparer.Ordinal);

    static EnglishVerbs()
    {
        foreach (var verb in Irregular)
        {
            PastOf[verb[0]] = verb[1];
            Participles.Add(verb[2]);
            BaseOf.TryAdd(verb[0], verb[0]);
            BaseOf.TryAdd(ThirdPersonRegular(verb[0]), verb[0]);
        }
        foreach (var verb in Regular)
        {
            PastOf.TryAdd(verb, RegularPast(verb));
            BaseOf.TryAdd(verb, verb);
            BaseOf.TryAdd(ThirdPersonRegular(verb), verb);
        }
    }

    /// <summary>True for a lexicon verb in its base form.</summary>
    public static bool IsBase(string word) => PastOf.ContainsKey(word);

    /// <summary>True for an auxiliary or modal.</summary>
    public static bool IsAuxiliary(string word) =>
        Be.Contains(word) || Have.Contains(word) || Do.Contains(word) || Modals.Contains(word);

    /// <summary>True for a finite main-verb form: a known past tense or -ed form, or a third-person form.</summary>
    public static bool IsFinite(string word) =>
        (word.Length > 4 && word.EndsWith("ed", StringComparison.Ordinal))
        || PastOf.ContainsValue(word)
        || (BaseOf.TryGetValue(word, out var b) && b != word);

    /// <summary>True for a past participle (irregular table or an -ed form).</summary>
    public static bool IsParticiple(string word) =>
        Participles.Contains(word) || (word.Length > 4 && word.EndsWith("ed", StringComparison.Ordinal));

    /// <summary>Past tense of a base form.</summary>
    public static string Past(string verb) => PastOf.TryGetValue(verb, out var past) ? past : RegularPast(verb);

    /// <summary>Third-person singular present of a base form.</summary>
    public static string ThirdPerson(string verb) => verb switch
    {
        "have" => "has",
        "be" => "is",
        _ => ThirdPersonRegular(verb),
    };

    private static string RegularPast(string verb)
    {
        if (Doubling.Contains(verb)) return verb + verb[^1] + "ed";
        if (verb.EndsWith('e')) return verb + "d";
        if (verb.Length > 2 && verb[^1] == 'y' && !"aeiou".Contains(verb[^2])) return verb[..^1] + "ied";
        return verb + "ed";
    }

    private static string ThirdPersonRegular(string verb)
    {
        if (verb.EndsWith('s') || verb.EndsWith('x') || verb.EndsWith('z') || verb.EndsWith("ch", StringComparison.Ordinal)
            || verb.EndsWith("sh", StringComparison.Ordinal) || verb.EndsWith('o'))
            return verb + "es";
        if (verb.Length > 2 && verb[^1] == 'y' && !"aeiou".Contains(verb[^2])) return verb[..^1] + "ies";
        return verb + "s";
    }
}
