using System.Globalization;
using System.Text;

namespace SparseMemory.Data.Chat;

/// <summary>The filters, tests, methods and functions of the subset (names checked when a template is parsed).</summary>
static class Builtins
{
    public static readonly HashSet<string> Filters =
    [
        "trim", "length", "count", "tojson", "join", "upper", "lower", "capitalize", "title", "default", "d", "first", "last",
        "list", "string", "int", "float", "abs", "replace", "items", "reverse", "select", "reject", "selectattr", "rejectattr",
        "map", "safe",
    ];

    public static readonly HashSet<string> Tests =
    [
        "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string", "mapping",
        "iterable", "sequence", "equalto", "eq", "ne", "in", "odd", "even", "divisibleby", "lower", "upper",
    ];

    /// <summary>Methods: of strings (strip … replace) and of mappings (items, keys, values, get).</summary>
    public static readonly HashSet<string> Methods =
    [
        "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "upper", "lower", "title", "capitalize", "replace",
        "items", "keys", "values", "get",
    ];

    public static readonly string[] Functions = ["raise_exception", "namespace", "range", "dict"];
}

/// <summary>
/// Runs a parsed template. Scoping follows Jinja: a for loop's body gets a fresh scope on every pass, whose names start
/// as the enclosing scope's (a set inside a loop never reaches past the pass; <c>namespace()</c> carries state out);
/// <c>if</c> opens no scope. Bounded: at most <see cref="MaxOutput"/> characters in any string, <see cref="MaxItems"/>
/// items in any list and <see cref="MaxSteps"/> statements and loop passes.
/// </summary>
sealed class TemplateRenderer
{
    public const int MaxOutput = 1 << 20, MaxItems = 100_000, MaxSteps = 1_000_000;

    readonly StringBuilder _out = new();
    int _steps;

    enum Flow { Normal, Break, Continue }

    sealed class Scope(Scope? parent)
    {
        readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

        public bool TryLookup(string name, out object? value)
        {
            for (var s = this; s is not null; s = s.Parent)
                if (s._vars.TryGetValue(name, out value)) return true;
            value = null;
            return false;
        }

        public Scope? Parent { get; } = parent;
        public void Set(string name, object? value) => _vars[name] = value;
    }

    public static string Render(IReadOnlyList<Node> nodes, IReadOnlyDictionary<string, object?> variables)
    {
        var r = new TemplateRenderer();
        var root = new Scope(null);
        foreach (var (k, v) in variables) root.Set(k, v);
        var flow = r.Exec(nodes, root);
        if (flow != Flow.Normal) throw new ChatTemplateException($"'{{% {(flow == Flow.Break ? "break" : "continue")} %}}' outside a for loop");
        return r._out.ToString();
    }

    static ChatTemplateException Error(int line, string message) => new($"line {line}: {message}");

    void Step(int line)
    {
        if (++_steps > MaxSteps) throw Error(line, $"the template ran more than {MaxSteps:N0} steps; stopped");
    }

    static string Checked(string s, int line) =>
        s.Length > MaxOutput ? throw Error(line, $"a string of more than {MaxOutput:N0} characters; stopped") : s;

    static List<object?> Checked(List<object?> l, int line) =>
        l.Count > MaxItems ? throw Error(line, $"a list of more than {MaxItems:N0} items; stopped") : l;

    Flow Exec(IReadOnlyList<Node> nodes, Scope scope)
    {
        foreach (var node in nodes)
        {
            Step(node.Line);
            switch (node)
            {
                case TextNode t: Write(t.Text, t.Line); break;
                case OutputNode o: Write(Py.Str(Eval(o.Value, scope)), o.Line); break;
                case IfNode i:
                {
                    IReadOnlyList<Node>? body = i.Else;
                    foreach (var (cond, b) in i.Branches)
                        if (Py.Truthy(Eval(cond, scope))) { body = b; break; }
                    if (body is not null && Exec(body, scope) is var f and not Flow.Normal) return f;
                    break;
                }
                case ForNode f: For(f, scope); break;
                case SetNode s:
                {
                    var value = Eval(s.Value, scope);
                    if (s.Attribute is null) { scope.Set(s.Name, value); break; }
                    if (!scope.TryLookup(s.Name, out var target) || target is not Namespace ns)
                        throw Error(s.Line, $"'{{% set {s.Name}.{s.Attribute} = … %}}': {s.Name} is {(target is null && !scope.TryLookup(s.Name, out _) ? "undefined" : "a " + Py.TypeName(target))}; only a namespace() takes attributes");
                    ns[s.Attribute] = value;
                    break;
                }
                case LoopControlNode c: return c.Break ? Flow.Break : Flow.Continue;
            }
        }
        return Flow.Normal;
    }

    void Write(string s, int line)
    {
        if (_out.Length + s.Length > MaxOutput) throw Error(line, $"the rendered text passed {MaxOutput:N0} characters; stopped");
        _out.Append(s);
    }

    void For(ForNode f, Scope scope)
    {
        var items = Iterate(Eval(f.Items, scope), f.Line, "the for loop's sequence");
        Scope Pass(object? item)
        {
            var s = new Scope(scope);
            if (f.Targets.Count == 1) s.Set(f.Targets[0], item);
            else
            {
                var parts = item as List<object?> ?? (item is string str && str.Length == f.Targets.Count ? Iterate(str, f.Line, "") : null);
                if (parts is null || parts.Count != f.Targets.Count)
                    throw Error(f.Line, $"cannot unpack a {Py.TypeName(item)}{(parts is null ? "" : $" of {parts.Count} items")} into {f.Targets.Count} loop variables ({string.Join(", ", f.Targets)})");
                for (int k = 0; k < parts.Count; k++) s.Set(f.Targets[k], parts[k]);
            }
            return s;
        }
        if (f.Filter is not null) items = items.Where(item => { Step(f.Line); return Py.Truthy(Eval(f.Filter, Pass(item))); }).ToList();
        for (int i = 0; i < items.Count; i++)
        {
            Step(f.Line);
            var s = Pass(items[i]);
            s.Set("loop", new LoopInfo(i, items.Count, i > 0 ? items[i - 1] : null, i + 1 < items.Count ? items[i + 1] : null, i > 0, i + 1 < items.Count));
            if (Exec(f.Body, s) == Flow.Break) break;
        }
        if (items.Count == 0 && f.Else is not null) Exec(f.Else, new Scope(scope));
    }

    /// <summary>The items a for loop or filter walks: a list's items, a string's characters, a mapping's keys; nothing for undefined.</summary>
    static List<object?> Iterate(object? v, int line, string what) => v switch
    {
        List<object?> l => [.. l],
        string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
        Dict d => d.Keys.Select(k => (object?)k).ToList(),
        Undefined => [],
        _ => throw Error(line, $"{what} is {Describe(v)}, which cannot be iterated"),
    };

    static string Describe(object? v)
    {
        if (v is Undefined u) return $"undefined ('{u.Name}')";
        string type = Py.TypeName(v);
        return ("aeiou".Contains(type[0]) ? "an " : "a ") + type;
    }

    static ChatTemplateException UndefinedError(int line, Undefined u, string use) =>
        Error(line, $"'{u.Name}' is undefined ({use})");

    // ------------------------------------------------------------------ expressions

    object? Eval(Expr e, Scope scope)
    {
        switch (e)
        {
            case LiteralExpr l: return l.Value;
            case NameExpr n:
                if (scope.TryLookup(n.Name, out var v)) return v;
                return Builtins.Functions.Contains(n.Name) ? new Builtin(n.Name) : new Undefined(n.Name);
            case ListExpr l:
            {
                var items = Checked(l.Items.Select(x => Eval(x, scope)).ToList(), l.Line);
                return l.Tuple ? new PyTuple(items) : items;
            }
            case DictExpr d:
            {
                var dict = new Dict();
                foreach (var (k, x) in d.Items)
                    dict[Eval(k, scope) as string ?? throw Error(d.Line, "dictionary keys must be strings")] = Eval(x, scope);
                return dict;
            }
            case AttrExpr a: return Attr(Eval(a.Target, scope), a.Name, a.Line, Name(a.Target));
            case ItemExpr i: return Item(Eval(i.Target, scope), Eval(i.Key, scope), i.Line, Name(i.Target));
            case SliceExpr s: return Slice(s, scope);
            case CallExpr c: return Call(c, scope);
            case FilterExpr f:
                return Filter(f.Name, Eval(f.Value, scope), f.Args.Select(x => Eval(x, scope)).ToList(),
                    f.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope)), f.Line);
            case TestExpr t: return Test(t.Name, Eval(t.Value, scope), t.Args.Select(x => Eval(x, scope)).ToList(), t.Line) != t.Negated;
            case UnaryExpr u:
            {
                var x = Eval(u.Operand, scope);
                if (u.Op == "not") return !Py.Truthy(x);
                return x switch
                {
                    long l => u.Op == "-" ? checked(-l) : l,
                    bool b => u.Op == "-" ? -(b ? 1L : 0L) : (b ? 1L : 0L),
                    double d => (object)(u.Op == "-" ? -d : d),
                    Undefined un => throw UndefinedError(u.Line, un, $"unary {u.Op}"),
                    _ => throw Error(u.Line, $"unary {u.Op} needs a number, got {Describe(x)}"),
                };
            }
            case BinaryExpr b when b.Op is "and" or "or":
            {
                var left = Eval(b.Left, scope);
                return (b.Op == "and") == Py.Truthy(left) ? Eval(b.Right, scope) : left;
            }
            case BinaryExpr b: return Arith(b.Op, Eval(b.Left, scope), Eval(b.Right, scope), b.Line);
            case CompareExpr c:
            {
                var left = Eval(c.First, scope);
                foreach (var (op, rightExpr) in c.Rest)
                {
                    var right = Eval(rightExpr, scope);
                    if (!Compare(op, left, right, c.Line)) return false;
                    left = right;
                }
                return true;
            }
            case CondExpr c:
                return Py.Truthy(Eval(c.Condition, scope)) ? Eval(c.Then, scope) : c.Else is null ? new Undefined("(if without else)") : Eval(c.Else, scope);
        }
        throw new InvalidOperationException($"unknown expression {e.GetType().Name}");
    }

    /// <summary>A readable name of an expression, for messages about undefined values.</summary>
    static string Name(Expr e) => e switch
    {
        NameExpr n => n.Name,
        AttrExpr a => $"{Name(a.Target)}.{a.Name}",
        ItemExpr { Key: LiteralExpr k } i => $"{Name(i.Target)}[{Py.Repr(k.Value)}]",
        ItemExpr i => $"{Name(i.Target)}[…]",
        _ => "(expression)",
    };

    static object? Attr(object? target, string name, int line, string targetName) => target switch
    {
        Undefined u => throw UndefinedError(line, u, $"reading .{name}"),
        Dict d => d.TryGet(name, out var v) ? v : new Undefined($"{targetName}.{name}"),
        Namespace n => n.TryGet(name, out var v) ? v : new Undefined($"{targetName}.{name}"),
        LoopInfo l => l.Get(name),
        _ => new Undefined($"{targetName}.{name}"),
    };

    static object? Item(object? target, object? key, int line, string targetName)
    {
        string keyText = Py.Repr(key);
        switch (target)
        {
            case Undefined u: throw UndefinedError(line, u, $"reading [{keyText}]");
            case List<object?> l when key is long or bool:
            {
                long i = Py.AsLong(key);
                if (i < 0) i += l.Count;
                return i >= 0 && i < l.Count ? l[(int)i] : new Undefined($"{targetName}[{keyText}]");
            }
            case string s when key is long or bool:
            {
                var runes = s.EnumerateRunes().ToList();
                long i = Py.AsLong(key);
                if (i < 0) i += runes.Count;
                return i >= 0 && i < runes.Count ? runes[(int)i].ToString() : new Undefined($"{targetName}[{keyText}]");
            }
            case Dict or Namespace or LoopInfo when key is string k: return Attr(target, k, line, targetName);
            default: return new Undefined($"{targetName}[{keyText}]");
        }
    }

    object? Slice(SliceExpr s, Scope scope)
    {
        var target = Eval(s.Target, scope);
        long? Bound(Expr? x, string what)
        {
            if (x is null) return null;
            var v = Eval(x, scope);
            return v is null ? null : v is long or bool ? Py.AsLong(v) : throw Error(s.Line, $"slice {what} must be an integer, got {Describe(v)}");
        }
        long? start = Bound(s.Start, "start"), stop = Bound(s.Stop, "stop"), step = Bound(s.Step, "step");
        if (step == 0) throw Error(s.Line, "slice step cannot be zero");
        List<object?> items = target switch
        {
            List<object?> l => l,
            string str => str.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
            Undefined u => throw UndefinedError(s.Line, u, "slicing it"),
            _ => throw Error(s.Line, $"cannot slice {Describe(target)}"),
        };
        var picked = SliceIndices(items.Count, start, stop, step ?? 1).Select(i => items[i]).ToList();
        return target is string ? string.Concat(picked.Cast<string>()) : picked;
    }

    /// <summary>Python's slice indices for a sequence of <paramref name="n"/> items.</summary>
    static IEnumerable<int> SliceIndices(int n, long? start, long? stop, long step)
    {
        long Clamp(long? v, long dflt, long lo, long hi)
        {
            if (v is not long x) return dflt;
            if (x < 0) x += n;
            return Math.Clamp(x, lo, hi);
        }
        if (step > 0)
        {
            long a = Clamp(start, 0, 0, n), b = Clamp(stop, n, 0, n);
            for (long i = a; i < b; i += step) yield return (int)i;
        }
        else
        {
            long a = Clamp(start, n - 1, -1, n - 1), b = Clamp(stop, -1, -1, n - 1);
            if (stop is long sv && sv + n < 0) b = -1;
            for (long i = a; i > b; i += step) yield return (int)i;
        }
    }

    object? Call(CallExpr c, Scope scope)
    {
        var args = c.Args.Select(x => Eval(x, scope)).ToList();
        var kwargs = c.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope));
        if (c.Callee is AttrExpr m) return Method(Eval(m.Target, scope), m.Name, args, kwargs, c.Line, Name(m.Target));
        var callee = Eval(c.Callee, scope);
        return callee switch
        {
            Builtin f => Function(f.Name, args, kwargs, c.Line),
            Undefined u => throw Error(c.Line, $"the template calls {u.Name}(), which this interpreter does not provide (functions: {string.Join(", ", Builtins.Functions)})"),
            _ => throw Error(c.Line, $"{Name(c.Callee)} is {Describe(callee)}, which cannot be called"),
        };
    }

    static object? Function(string name, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        switch (name)
        {
            case "raise_exception":
                throw new ChatTemplateRaisedException(args.Count > 0 ? Py.Str(args[0]) : "the chat template raised an exception");
            case "namespace" or "dict":
            {
                var target = name == "namespace" ? (OrderedDictionaryWrapper)new Namespace() : new Dict();
                foreach (var a in args)
                    if (a is Dict d) foreach (var (k, v) in d.Items) target[k] = v;
                    else throw Error(line, $"{name}() takes keyword arguments (or a mapping), got {Describe(a)}");
                foreach (var (k, v) in kwargs) target[k] = v;
                return target;
            }
            case "range":
            {
                if (kwargs.Count > 0 || args.Count is < 1 or > 3 || args.Any(a => a is not (long or bool)))
                    throw Error(line, "range() takes one to three integers");
                var n = args.Select(Py.AsLong).ToArray();
                long start = n.Length == 1 ? 0 : n[0], stop = n.Length == 1 ? n[0] : n[1], step = n.Length == 3 ? n[2] : 1;
                if (step == 0) throw Error(line, "range() step cannot be zero");
                var list = new List<object?>();
                for (long i = start; step > 0 ? i < stop : i > stop; i += step)
                    if (list.Count >= MaxItems) throw Error(line, $"range() of more than {MaxItems:N0} items; stopped");
                    else list.Add(i);
                return new PyRange(start, stop, step, list);
            }
        }
        throw Error(line, $"unknown function {name}()");
    }

    static object? Method(object? target, string name, List<object?> args, Dictionary<string, object?> kwargs, int line, string targetName)
    {
        object? Arg(int i, string kw, object? dflt) => i < args.Count ? args[i] : kwargs.TryGetValue(kw, out var v) ? v : dflt;
        string? OptStr(int i, string kw) => Arg(i, kw, null) switch
        {
            null => null,
            string s => s,
            var v => throw Error(line, $".{name}(): {kw} must be a string, got {Describe(v)}"),
        };
        if (target is Undefined u) throw UndefinedError(line, u, $"calling .{name}()");
        if (target is string s)
        {
            switch (name)
            {
                case "strip": return Py.Strip(s, OptStr(0, "chars"), true, true);
                case "lstrip": return Py.Strip(s, OptStr(0, "chars"), true, false);
                case "rstrip": return Py.Strip(s, OptStr(0, "chars"), false, true);
                case "upper": return s.ToUpperInvariant();
                case "lower": return s.ToLowerInvariant();
                case "capitalize": return Capitalize(s);
                case "title": return PythonTitle(s);
                case "startswith" or "endswith":
                {
                    var p = Arg(0, "prefix", null);
                    var options = p is List<object?> l ? l : [p];
                    return options.Any(o => o is string x
                        ? name == "startswith" ? s.StartsWith(x, StringComparison.Ordinal) : s.EndsWith(x, StringComparison.Ordinal)
                        : throw Error(line, $".{name}() needs a string or a tuple of strings, got {Describe(o)}"));
                }
                case "replace":
                {
                    string from = OptStr(0, "old") ?? throw Error(line, ".replace() needs the old and new strings");
                    string to = OptStr(1, "new") ?? throw Error(line, ".replace() needs the old and new strings");
                    return Checked(Replace(s, from, to, Arg(2, "count", -1L) is long n ? n : -1), line);
                }
                case "split":
                {
                    string? sep = OptStr(0, "sep");
                    long max = Arg(1, "maxsplit", -1L) is long m ? m : -1;
                    return Split(s, sep, max, line);
                }
            }
        }
        else if (target is Dict d)
        {
            switch (name)
            {
                case "items": return d.Items.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList();
                case "keys": return d.Keys.Select(k => (object?)k).ToList();
                case "values": return d.Values.ToList();
                case "get": return Arg(0, "key", null) is string k && d.TryGet(k, out var v) ? v : Arg(1, "default", null);
            }
        }
        throw Error(line, $"{targetName} is {Describe(target)}, which has no method .{name}()");
    }

    static string Capitalize(string s) => s.Length == 0 ? s : s[..1].ToUpperInvariant() + s[1..].ToLowerInvariant();

    /// <summary>Python's str.title: a letter after a non-letter is upper case, every other letter lower case.</summary>
    static string PythonTitle(string s)
    {
        var b = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            b.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return b.ToString();
    }

    /// <summary>Jinja's |title: words split after runs of white space, '-', '(', '{', '[' or '&lt;'; each word's first character upper, the rest lower.</summary>
    static string JinjaTitle(string s)
    {
        var b = new StringBuilder(s.Length);
        bool start = true;
        foreach (char c in s)
        {
            bool separator = char.IsWhiteSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            b.Append(separator ? c : start ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            start = separator;
        }
        return b.ToString();
    }

    static string Replace(string s, string from, string to, long count)
    {
        if (count < 0) return from.Length == 0 ? string.Concat(s.Select(c => to + c)) + to : s.Replace(from, to, StringComparison.Ordinal);
        var b = new StringBuilder();
        int at = 0;
        for (long n = 0; n < count; n++)
        {
            int hit = s.IndexOf(from, at, StringComparison.Ordinal);
            if (hit < 0 || from.Length == 0) break;
            b.Append(s, at, hit - at).Append(to);
            at = hit + from.Length;
        }
        return b.Append(s, at, s.Length - at).ToString();
    }

    static List<object?> Split(string s, string? sep, long max, int line)
    {
        var parts = new List<object?>();
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && Py.IsSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (max >= 0 && parts.Count == max) { parts.Add(Py.Strip(s[i..], null, false, true)); break; }
                int j = i;
                while (j < s.Length && !Py.IsSpace(s[j])) j++;
                parts.Add(s[i..j]);
                i = j;
            }
            return parts;
        }
        if (sep.Length == 0) throw Error(line, ".split(): the separator is empty");
        int at = 0;
        while (max < 0 || parts.Count < max)
        {
            int hit = s.IndexOf(sep, at, StringComparison.Ordinal);
            if (hit < 0) break;
            parts.Add(s[at..hit]);
            at = hit + sep.Length;
        }
        parts.Add(s[at..]);
        return parts;
    }

    // ------------------------------------------------------------------ operators

    static object? Arith(string op, object? a, object? b, int line)
    {
        if (op == "~") return Checked(Py.Str(a) + Py.Str(b), line);
        if (a is Undefined ua) throw UndefinedError(line, ua, $"the left side of '{op}'");
        if (b is Undefined ub) throw UndefinedError(line, ub, $"the right side of '{op}'");
        try
        {
            if (Py.IsNumber(a) && Py.IsNumber(b))
            {
                bool ints = a is not double && b is not double;
                double x = Py.ToDouble(a), y = Py.ToDouble(b);
                switch (op)
                {
                    case "+": return ints ? checked(Py.AsLong(a) + Py.AsLong(b)) : (object)(x + y);
                    case "-": return ints ? checked(Py.AsLong(a) - Py.AsLong(b)) : (object)(x - y);
                    case "*": return ints ? checked(Py.AsLong(a) * Py.AsLong(b)) : (object)(x * y);
                    case "/": return y == 0 ? throw Error(line, "division by zero") : x / y;
                    case "//":
                        if (y == 0) throw Error(line, "division by zero");
                        return ints ? FloorDiv(Py.AsLong(a), Py.AsLong(b)) : (object)Math.Floor(x / y);
                    case "%":
                        if (y == 0) throw Error(line, "modulo by zero");
                        if (ints) { long l = Py.AsLong(a), r = Py.AsLong(b); return l - r * FloorDiv(l, r); }
                        return x - y * Math.Floor(x / y);
                    case "**":
                        if (ints && Py.AsLong(b) >= 0)
                        {
                            long result = 1, bas = Py.AsLong(a);
                            for (long e = Py.AsLong(b); e > 0; e--) result = checked(result * bas);
                            return result;
                        }
                        return Math.Pow(x, y);
                }
            }
            switch (op)
            {
                case "+" when a is string sa && b is string sb: return Checked(sa + sb, line);
                case "+" when a is PyTuple ta && b is PyTuple tb: return new PyTuple(Checked([.. ta, .. tb], line));
                case "+" when a is List<object?> la && b is List<object?> lb && a is not PyTuple && b is not PyTuple: return Checked([.. la, .. lb], line);
                case "*" when a is string s1 && b is long or bool: return Checked(Repeat(s1, Py.AsLong(b!), line), line);
                case "*" when b is string s2 && a is long or bool: return Checked(Repeat(s2, Py.AsLong(a!), line), line);
                case "*" when a is List<object?> l1 && b is long or bool: return Checked(RepeatList(l1, Py.AsLong(b!), line), line);
                case "*" when b is List<object?> l2 && a is long or bool: return Checked(RepeatList(l2, Py.AsLong(a!), line), line);
                case "%" when a is string: throw Error(line, "string formatting with '%' is not supported; join strings with '+' or '~'");
            }
        }
        catch (OverflowException) { throw Error(line, $"integer overflow in '{op}'"); }
        throw Error(line, $"'{op}' is not defined between {Describe(a)} and {Describe(b)}");
    }

    static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
    }

    static string Repeat(string s, long n, int line)
    {
        if (n <= 0 || s.Length == 0) return "";
        if (n * s.Length > MaxOutput) throw Error(line, $"a string of more than {MaxOutput:N0} characters; stopped");
        return string.Concat(Enumerable.Repeat(s, (int)n));
    }

    static List<object?> RepeatList(List<object?> l, long n, int line)
    {
        if (n <= 0 || l.Count == 0) return [];
        if (n * l.Count > MaxItems) throw Error(line, $"a list of more than {MaxItems:N0} items; stopped");
        return Enumerable.Repeat(l, (int)n).SelectMany(x => x).ToList();
    }

    static bool Compare(string op, object? a, object? b, int line)
    {
        switch (op)
        {
            case "==": return Py.Equal(a, b);
            case "!=": return !Py.Equal(a, b);
            case "in": return Contains(b, a, line);
            case "not in": return !Contains(b, a, line);
        }
        if (a is Undefined ua) throw UndefinedError(line, ua, $"the left side of '{op}'");
        if (b is Undefined ub) throw UndefinedError(line, ub, $"the right side of '{op}'");
        int c = Py.Order(a, b) ?? throw Error(line, $"'{op}' cannot compare {Describe(a)} with {Describe(b)}");
        return op switch { "<" => c < 0, "<=" => c <= 0, ">" => c > 0, _ => c >= 0 };
    }

    static bool Contains(object? container, object? item, int line) => container switch
    {
        string s => item is string x ? s.Contains(x, StringComparison.Ordinal) : throw Error(line, $"'in <string>' needs a string on the left, got {Describe(item)}"),
        List<object?> l => l.Any(x => Py.Equal(x, item)),
        Dict d => item is string k && d.ContainsKey(k),
        Namespace n => item is string k2 && n.ContainsKey(k2),
        Undefined => false,
        _ => throw Error(line, $"'in' needs a string, list or mapping on the right, got {Describe(container)}"),
    };

    // ------------------------------------------------------------------ filters and tests

    object? Filter(string name, object? v, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        object? Arg(int i, string kw, object? dflt) => i < args.Count ? args[i] : kwargs.TryGetValue(kw, out var x) ? x : dflt;
        string Text(object? x) => x is Undefined ? "" : Py.Str(x);
        switch (name)
        {
            case "trim":
                return Py.Strip(Text(v), Arg(0, "chars", null) switch { null => null, string c => c, var o => throw Error(line, $"|trim: chars must be a string, got {Describe(o)}") }, true, true);
            case "length" or "count":
                return v switch
                {
                    string s => (long)s.EnumerateRunes().Count(),
                    List<object?> l => l.Count,
                    Dict d => d.Count,
                    Namespace n => n.Count,
                    Undefined => 0L,
                    _ => throw Error(line, $"|{name}: {Describe(v)} has no length"),
                };
            case "tojson":
            {
                var indent = Arg(0, "indent", null);
                if (indent is not (null or long)) throw Error(line, "|tojson: indent must be an integer");
                if (kwargs.Keys.Any(k => k != "indent")) throw Error(line, "|tojson takes only indent");
                if (v is Undefined u) throw UndefinedError(line, u, "|tojson");
                try { return Checked(Py.Json(v, indent is long n ? (int)n : null), line); }
                catch (ChatTemplateException e) { throw Error(line, e.Message); }
            }
            case "join":
            {
                var sep = Text(Arg(0, "d", ""));
                var attr = Arg(1, "attribute", null) as string;
                var items = Iterate(v, line, "|join's input");
                return Checked(string.Join(sep, items.Select(x => Text(attr is null ? x : Attr(x, attr, line, "item")))), line);
            }
            case "upper": return Text(v).ToUpperInvariant();
            case "lower": return Text(v).ToLowerInvariant();
            case "capitalize": return Capitalize(Text(v));
            case "title": return JinjaTitle(Text(v));
            case "default" or "d":
            {
                bool boolean = Py.Truthy(Arg(1, "boolean", false));
                return v is Undefined || (boolean && !Py.Truthy(v)) ? Arg(0, "default_value", "") : v;
            }
            case "first" or "last":
            {
                if (v is Undefined) return new Undefined($"(|{name} of undefined)");
                var items = Iterate(v, line, $"|{name}'s input");
                return items.Count == 0 ? new Undefined($"(|{name} of an empty sequence)") : name == "first" ? items[0] : items[^1];
            }
            case "list": return Iterate(v, line, "|list's input");
            case "string": return Text(v);
            case "int":
            {
                var dflt = Arg(0, "default", 0L);
                return v switch
                {
                    long l => l,
                    bool b => b ? 1L : 0L,
                    double d when double.IsFinite(d) && Math.Abs(d) < 9.2e18 => (long)Math.Truncate(d),
                    string s when long.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l) => l,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && Math.Abs(d) < 9.2e18 => (long)Math.Truncate(d),
                    _ => dflt,
                };
            }
            case "float":
            {
                var dflt = Arg(0, "default", 0.0);
                return v switch
                {
                    long or bool or double => Py.ToDouble(v),
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
                    _ => dflt,
                };
            }
            case "abs":
                return v switch
                {
                    long l => checked(Math.Abs(l)),
                    bool b => b ? 1L : 0L,
                    double d => (object)Math.Abs(d),
                    _ => throw Error(line, $"|abs needs a number, got {Describe(v)}"),
                };
            case "replace":
            {
                if (Arg(0, "old", null) is not string from || Arg(1, "new", null) is not string to) throw Error(line, "|replace needs the old and new strings");
                return Checked(Replace(Text(v), from, to, Arg(2, "count", -1L) is long n ? n : -1), line);
            }
            case "items":
                return v switch
                {
                    Dict d => d.Items.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList(),
                    Undefined => new List<object?>(),
                    _ => throw Error(line, $"|items needs a mapping, got {Describe(v)}"),
                };
            case "reverse":
                return v switch
                {
                    string s => string.Concat(s.EnumerateRunes().Reverse().Select(r => r.ToString())),
                    _ => Iterate(v, line, "|reverse's input").AsEnumerable().Reverse().ToList(),
                };
            case "select" or "reject" or "selectattr" or "rejectattr" or "map" when !Py.Truthy(v):
                return new List<object?>();                                   // as Jinja: a false input (none, false, 0, empty) gives nothing
            case "select" or "reject":
            {
                var items = Iterate(v, line, $"|{name}'s input");
                bool keep = name == "select";
                if (args.Count == 0) return items.Where(x => Py.Truthy(x) == keep).ToList();
                string test = args[0] as string ?? throw Error(line, $"|{name}: the test name must be a string");
                CheckTest(test, line, name);
                return items.Where(x => Test(test, x, args.Skip(1).ToList(), line) == keep).ToList();
            }
            case "selectattr" or "rejectattr":
            {
                var items = Iterate(v, line, $"|{name}'s input");
                bool keep = name == "selectattr";
                string attr = args.Count > 0 && args[0] is string a ? a : throw Error(line, $"|{name}: the attribute name must be a string");
                if (args.Count == 1) return items.Where(x => Py.Truthy(Attr(x, attr, line, "item")) == keep).ToList();
                string test = args[1] as string ?? throw Error(line, $"|{name}: the test name must be a string");
                CheckTest(test, line, name);
                return items.Where(x => Test(test, Attr(x, attr, line, "item"), args.Skip(2).ToList(), line) == keep).ToList();
            }
            case "map":
            {
                var items = Iterate(v, line, "|map's input");
                if (kwargs.TryGetValue("attribute", out var at))
                {
                    string attr = at as string ?? throw Error(line, "|map: attribute must be a string");
                    bool hasDefault = kwargs.TryGetValue("default", out var dflt);
                    return items.Select(x => Attr(x, attr, line, "item") is Undefined && hasDefault ? dflt : Attr(x, attr, line, "item")).ToList();
                }
                string filter = args.Count > 0 && args[0] is string f ? f : throw Error(line, "|map needs attribute='name' or a filter name");
                if (!Builtins.Filters.Contains(filter) || filter == "map") throw Error(line, $"|map: the filter '{filter}' is not supported");
                return items.Select(x => Filter(filter, x, args.Skip(1).ToList(), new Dictionary<string, object?>(), line)).ToList();
            }
            case "safe": return v;
        }
        throw Error(line, $"unknown filter |{name}");
    }

    static void CheckTest(string test, int line, string filter)
    {
        if (!Builtins.Tests.Contains(test)) throw Error(line, $"|{filter}: the test '{test}' is not supported (supported: {string.Join(", ", Builtins.Tests.Order())})");
    }

    static bool Test(string name, object? v, List<object?> args, int line)
    {
        object? Other() => args.Count == 1 ? args[0] : throw Error(line, $"'is {name}' needs one argument");
        switch (name)
        {
            case "defined": return v is not Undefined;
            case "undefined": return v is Undefined;
            case "none": return v is null;
            case "boolean": return v is bool;
            case "true": return v is true;
            case "false": return v is false;
            case "integer": return v is long;
            case "float": return v is double;
            case "number": return v is long or double or bool;
            case "string": return v is string;
            case "mapping": return v is Dict;
            case "iterable": return v is string or List<object?> or Dict or Undefined;
            case "sequence": return v is string or List<object?> or Dict or Undefined;
            case "equalto" or "eq": return Py.Equal(v, Other());
            case "ne": return !Py.Equal(v, Other());
            case "in": return Contains(Other(), v, line);
            case "odd" or "even" or "divisibleby":
            {
                // As Jinja: value % 2 == 1, value % 2 == 0, value % n == 0, with Python's modulo (floats too).
                if (!Py.IsNumber(v)) throw Error(line, $"'is {name}' needs a number, got {Describe(v)}");
                object? rest = Arith("%", v, name == "divisibleby" ? Other() : 2L, line);
                return Py.Equal(rest, name == "odd" ? 1L : 0L);
            }
            case "lower": return v is string s && s.Any(char.IsLetter) && s.ToLowerInvariant() == s;
            case "upper": return v is string u && u.Any(char.IsLetter) && u.ToUpperInvariant() == u;
        }
        throw Error(line, $"unknown test 'is {name}'");
    }
}
