using System.Globalization;
using System.Text;

namespace SparseMemory.Data.Chat;

// Values inside a rendering, with Python's meaning as Jinja gives it: null is None, bool, long (int), double (float),
// string, List<object?> (list and tuple), Dict (an ordered mapping with string keys), Namespace, LoopInfo, Builtin,
// Undefined. Nothing else ever enters a rendering (ChatTemplate.Render converts its inputs), so no host object is reachable.

/// <summary>A name or item that does not exist: renders as "", is false, iterates as nothing; using it further is an error naming it.</summary>
sealed class Undefined(string name)
{
    public string Name { get; } = name;
    public override string ToString() => "";
}

/// <summary>A tuple: a list that is written as <c>(a, b)</c> and never equals a list, as in Python.</summary>
sealed class PyTuple(IEnumerable<object?> items) : List<object?>(items);

/// <summary>What <c>range(...)</c> returns: its numbers, written as Python writes a range (<c>range(0, 4)</c>).</summary>
sealed class PyRange(long start, long stop, long step, IEnumerable<object?> items) : List<object?>(items)
{
    public override string ToString() => step == 1 ? $"range({start}, {stop})" : $"range({start}, {stop}, {step})";
}

/// <summary>An ordered mapping with string keys (a message, a dict literal).</summary>
sealed class Dict : OrderedDictionaryWrapper
{
    public Dict() { }
    public Dict(IEnumerable<KeyValuePair<string, object?>> items) { foreach (var (k, v) in items) this[k] = v; }
}

/// <summary>Insertion-ordered string-keyed storage shared by <see cref="Dict"/> and <see cref="Namespace"/>.</summary>
abstract class OrderedDictionaryWrapper
{
    readonly OrderedDictionary<string, object?> _items = new(StringComparer.Ordinal);
    public object? this[string key] { get => _items[key]; set => _items[key] = value; }
    public bool TryGet(string key, out object? value) => _items.TryGetValue(key, out value);
    public bool ContainsKey(string key) => _items.ContainsKey(key);
    public int Count => _items.Count;
    public IEnumerable<string> Keys => _items.Keys;
    public IEnumerable<object?> Values => _items.Values;
    public IEnumerable<KeyValuePair<string, object?>> Items => _items;
}

/// <summary><c>namespace(...)</c>: the one object a template may change (<c>{% set ns.x = … %}</c>), so a loop can carry state out.</summary>
sealed class Namespace : OrderedDictionaryWrapper;

/// <summary>The <c>loop</c> variable of a for loop.</summary>
sealed class LoopInfo(int index0, int length, object? previous, object? next, bool hasPrevious, bool hasNext)
{
    public object? Get(string name) => name switch
    {
        "index0" => (long)index0,
        "index" => (long)index0 + 1,
        "revindex0" => (long)(length - index0 - 1),
        "revindex" => (long)(length - index0),
        "first" => index0 == 0,
        "last" => index0 == length - 1,
        "length" => (long)length,
        "previtem" => hasPrevious ? previous : new Undefined("loop.previtem"),
        "nextitem" => hasNext ? next : new Undefined("loop.nextitem"),
        "depth" => 1L,
        "depth0" => 0L,
        _ => new Undefined("loop." + name),
    };
}

/// <summary>A global function the interpreter provides (raise_exception, namespace, range, dict).</summary>
sealed record Builtin(string Name);

/// <summary>Python's view of the values: truth, str(), repr(), equality, order and JSON.</summary>
static class Py
{
    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        Dict d => d.Count > 0,
        _ => true,
    };

    public static string TypeName(object? v) => v switch
    {
        null => "none",
        Undefined => "undefined",
        bool => "boolean",
        long => "integer",
        double => "float",
        string => "string",
        PyTuple => "tuple",
        PyRange => "range",
        List<object?> => "list",
        Dict => "dict",
        Namespace => "namespace",
        LoopInfo => "loop",
        Builtin => "function",
        _ => v.GetType().Name,
    };

    /// <summary>Python's str(): what <c>{{ value }}</c> writes.</summary>
    public static string Str(object? v) => v switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => Float(d),
        string s => s,
        _ => Repr(v),
    };

    /// <summary>Python's repr(): strings quoted, lists and dicts in Python's notation.</summary>
    public static string Repr(object? v)
    {
        switch (v)
        {
            case string s:
            {
                char q = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
                var b = new StringBuilder().Append(q);
                foreach (char c in s)
                    b.Append(c switch
                    {
                        '\\' => "\\\\", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t",
                        _ when c == q => "\\" + c,
                        _ when c < 0x20 || c == 0x7f => $"\\x{(int)c:x2}",
                        _ => c.ToString(),
                    });
                return b.Append(q).ToString();
            }
            case PyRange r: return r.ToString();
            case PyTuple t: return "(" + string.Join(", ", t.Select(Repr)) + (t.Count == 1 ? ",)" : ")");
            case List<object?> l: return "[" + string.Join(", ", l.Select(Repr)) + "]";
            case Dict d: return "{" + string.Join(", ", d.Items.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case Namespace n: return "<Namespace {" + string.Join(", ", n.Items.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}>";
            case LoopInfo: return "<LoopContext>";
            case Builtin f: return $"<function {f.Name}>";
            case Undefined: return "Undefined";
            default: return Str(v);
        }
    }

    /// <summary>Python's repr of a float: the shortest round-trip digits, fixed for exponents −4 … 15, else scientific (1e-05, 1e+16).</summary>
    public static string Float(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // Shortest digits: the round-trip form, read back as mantissa digits and a decimal exponent.
        string shortest = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = shortest.StartsWith('-');
        if (negative) shortest = shortest[1..];
        int exp = 0;
        int e = shortest.IndexOfAny(['E', 'e']);
        if (e >= 0) { exp = int.Parse(shortest[(e + 1)..], CultureInfo.InvariantCulture); shortest = shortest[..e]; }
        int dot = shortest.IndexOf('.');
        string intPart = dot < 0 ? shortest : shortest[..dot], frac = dot < 0 ? "" : shortest[(dot + 1)..];
        string digits = (intPart + frac).TrimStart('0');
        int lead = (intPart + frac).Length - digits.Length;          // zeros dropped at the front
        int point = intPart.Length + exp - lead;                      // the decimal point sits after this many digits
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        int exp10 = point - 1;
        string body;
        if (exp10 >= -4 && exp10 < 16)
        {
            if (point <= 0) body = "0." + new string('0', -point) + digits;
            else if (point >= digits.Length) body = digits + new string('0', point - digits.Length) + ".0";
            else body = digits[..point] + "." + digits[point..];
        }
        else
        {
            string mant = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
            body = mant + "e" + (exp10 < 0 ? "-" : "+") + Math.Abs(exp10).ToString("00", CultureInfo.InvariantCulture);
        }
        return negative ? "-" + body : body;
    }

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch { long l => l, double d => d, bool b => b ? 1 : 0, _ => double.NaN };

    /// <summary>Python's ==: numbers by value across int, float and bool; lists and dicts by content.</summary>
    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a is null || b is null) return a is null && b is null;
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? ToDouble(a) == ToDouble(b) : AsLong(a) == AsLong(b);
        if (a is string sa && b is string sb) return sa == sb;
        if (a is List<object?> la && b is List<object?> lb) return a.GetType() == b.GetType() && la.Count == lb.Count && la.Zip(lb).All(p => Equal(p.First, p.Second));
        if (a is Dict da && b is Dict db)
            return da.Count == db.Count && da.Items.All(kv => db.TryGet(kv.Key, out var v) && Equal(kv.Value, v));
        return ReferenceEquals(a, b) || (a is Builtin fa && b is Builtin fb && fa == fb);
    }

    public static long AsLong(object? v) => v switch { long l => l, bool b => b ? 1 : 0, _ => throw new InvalidCastException() };

    /// <summary>Python's order for &lt; &gt;: numbers, strings (by code point), lists element by element; else null (not comparable).</summary>
    public static int? Order(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : AsLong(a).CompareTo(AsLong(b));
        if (a is string sa && b is string sb) return Math.Sign(string.CompareOrdinal(sa, sb));
        if (a is List<object?> la && b is List<object?> lb)
        {
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (Equal(la[i], lb[i])) continue;
                return Order(la[i], lb[i]);
            }
            return la.Count.CompareTo(lb.Count);
        }
        return null;
    }

    /// <summary>Python's str.isspace for one UTF-16 unit.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string Strip(string s, string? chars, bool left, bool right)
    {
        Func<char, bool> drop = chars is null ? IsSpace : chars.Contains;
        int a = 0, b = s.Length;
        if (left) while (a < b && drop(s[a])) a++;
        if (right) while (b > a && drop(s[b - 1])) b--;
        return s[a..b];
    }

    /// <summary>
    /// JSON as Hugging Face's <c>tojson</c> writes it (Python's json.dumps with ensure_ascii off): ", " and ": " between
    /// items, or with <paramref name="indent"/> one item per line.
    /// </summary>
    public static string Json(object? v, int? indent)
    {
        var b = new StringBuilder();
        WriteJson(b, v, indent, 0);
        return b.ToString();
    }

    static void WriteJson(StringBuilder b, object? v, int? indent, int level)
    {
        switch (v)
        {
            case null: b.Append("null"); break;
            case bool x: b.Append(x ? "true" : "false"); break;
            case long l: b.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: b.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : Float(d)); break;
            case string s:
                b.Append('"');
                foreach (char c in s)
                    b.Append(c switch
                    {
                        '"' => "\\\"", '\\' => "\\\\", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", '\b' => "\\b", '\f' => "\\f",
                        _ when c < 0x20 => $"\\u{(int)c:x4}",
                        _ => c.ToString(),
                    });
                b.Append('"');
                break;
            case List<object?> list:
                Container(b, '[', ']', list.Count, indent, level, i => WriteJson(b, list[i], indent, level + 1));
                break;
            case Dict d:
            {
                var items = d.Items.ToList();
                Container(b, '{', '}', items.Count, indent, level, i =>
                {
                    WriteJson(b, items[i].Key, indent, level + 1);
                    b.Append(": ");
                    WriteJson(b, items[i].Value, indent, level + 1);
                });
                break;
            }
            default:
                throw new ChatTemplateException($"|tojson: a value of type {TypeName(v)} cannot be written as JSON");
        }
    }

    static void Container(StringBuilder b, char open, char close, int count, int? indent, int level, Action<int> item)
    {
        b.Append(open);
        if (count == 0) { b.Append(close); return; }
        for (int i = 0; i < count; i++)
        {
            if (indent is int n) b.Append(i == 0 ? "\n" : ",\n").Append(' ', n * (level + 1));
            else if (i > 0) b.Append(", ");
            item(i);
        }
        if (indent is int m) b.Append('\n').Append(' ', m * level);
        b.Append(close);
    }
}
