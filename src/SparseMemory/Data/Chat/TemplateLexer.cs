using System.Globalization;
using System.Text;

namespace SparseMemory.Data.Chat;

/// <summary>What a piece of template source is: literal text, <c>{{ expression }}</c> or <c>{% statement %}</c>.</summary>
enum SegmentKind { Text, Output, Statement }

/// <summary>One piece of the template, after whitespace control; <see cref="Line"/> is where it starts (1-based).</summary>
readonly record struct Segment(SegmentKind Kind, string Text, int Line);

/// <summary>Kinds of expression tokens.</summary>
enum TokenKind { Name, String, Integer, Float, Operator, End }

/// <summary>One token of an expression or statement.</summary>
readonly record struct Token(TokenKind Kind, string Text, object? Value = null)
{
    public bool Is(string op) => Kind == TokenKind.Operator && Text == op;
    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;
    public override string ToString() => Kind switch { TokenKind.End => "the end of the tag", TokenKind.String => "a string", _ => $"'{Text}'" };
}

/// <summary>
/// Splits a chat template into text, output and statement pieces the way the Hugging Face tokenizers' Jinja
/// environment does (docs/own-model.md#chat-templates): line endings become <c>\n</c> and one trailing newline is
/// dropped; <c>trim_blocks</c> (the first newline after a <c>%}</c> or <c>#}</c> is removed) and <c>lstrip_blocks</c>
/// (spaces and tabs before a <c>{%</c> or <c>{#</c> that starts a line are removed) are on; <c>{%-</c>/<c>-%}</c>
/// (and the same on <c>{{ }}</c> and <c>{# #}</c>) strip all white space on that side; <c>{%+</c> and <c>+%}</c> turn
/// the two block rules off for one tag. Comments are dropped.
/// </summary>
static class TemplateLexer
{
    public static List<Segment> Split(string source)
    {
        string s = NormalizeLines(source);
        var segments = new List<Segment>();
        int i = 0, line = 1;
        bool lineStarting = true;                      // the previous tag's end consumed a newline (or the template starts)
        while (i < s.Length)
        {
            int open = NextTag(s, i);
            string text = open < 0 ? s[i..] : s[i..open];
            if (open < 0)
            {
                Add(segments, SegmentKind.Text, text, line);
                break;
            }
            char kind = s[open + 1];                   // '{', '%' or '#'
            int p = open + 2;
            char mod = p < s.Length && s[p] is '-' or '+' ? s[p] : '\0';
            if (mod != '\0') p++;
            if (mod == '-') text = text.TrimEnd();
            else if (mod != '+' && kind != '{')
            {
                int l = text.LastIndexOf('\n') + 1;
                if ((l > 0 || lineStarting) && l < text.Length && text.AsSpan(l).IndexOfAnyExcept(" \t\r\f\v") < 0) text = text[..l];
            }
            Add(segments, SegmentKind.Text, text, line);
            line += Count(s, i, open);
            int tagLine = line;
            int endStart, endLength;
            char endMod;
            if (kind == '#')
            {
                int close = s.IndexOf("#}", p, StringComparison.Ordinal);
                if (close < 0) throw new ChatTemplateException($"line {tagLine}: a comment '{{#' is never closed with '#}}'");
                endMod = close > p && s[close - 1] is '-' or '+' ? s[close - 1] : '\0';
                endStart = endMod != '\0' ? close - 1 : close;
                endLength = close + 2 - endStart;
            }
            else (endStart, endLength, endMod) = TagEnd(s, p, kind, tagLine);
            string inner = s[p..endStart];
            int after = endStart + endLength;
            // What the end consumes: with '-' all following white space; after a block or comment one newline (trim_blocks).
            if (endMod == '-') while (after < s.Length && char.IsWhiteSpace(s[after])) after++;
            else if (kind != '{' && endMod != '+' && after < s.Length && s[after] == '\n') after++;
            lineStarting = after > 0 && s[after - 1] == '\n';
            if (kind == '{') segments.Add(new Segment(SegmentKind.Output, inner, tagLine));
            else if (kind == '%') segments.Add(new Segment(SegmentKind.Statement, inner, tagLine));
            line += Count(s, open, after);
            i = after;
        }
        return segments;
    }

    static void Add(List<Segment> segments, SegmentKind kind, string text, int line)
    {
        if (text.Length > 0) segments.Add(new Segment(kind, text, line));
    }

    static int Count(string s, int from, int to)
    {
        int n = 0;
        for (int k = from; k < to; k++) if (s[k] == '\n') n++;
        return n;
    }

    /// <summary>Python's <c>str.splitlines</c> joined by <c>\n</c>: every line break becomes <c>\n</c>, a final one is dropped (Jinja's keep_trailing_newline=False).</summary>
    static string NormalizeLines(string source)
    {
        var b = new StringBuilder(source.Length);
        for (int k = 0; k < source.Length; k++)
        {
            char c = source[k];
            if (c == '\r' && k + 1 < source.Length && source[k + 1] == '\n') { b.Append('\n'); k++; }
            else if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029') b.Append('\n');
            else b.Append(c);
        }
        if (b.Length > 0 && b[^1] == '\n') b.Length--;
        return b.ToString();
    }

    static int NextTag(string s, int from)
    {
        for (int k = s.IndexOf('{', from); k >= 0 && k + 1 < s.Length; k = s.IndexOf('{', k + 1))
            if (s[k + 1] is '{' or '%' or '#') return k;
        return -1;
    }

    /// <summary>Where the tag opened before <paramref name="p"/> ends: strings are skipped and brackets must balance first.</summary>
    static (int Start, int Length, char Mod) TagEnd(string s, int p, char kind, int line)
    {
        char close = kind == '{' ? '}' : '%';
        int depth = 0;
        for (int k = p; k < s.Length; k++)
        {
            char c = s[k];
            if (c is '\'' or '"')
            {
                int q = k + 1;
                while (q < s.Length && s[q] != c) q += s[q] == '\\' ? 2 : 1;
                if (q >= s.Length) throw new ChatTemplateException($"line {line}: a string opened with {c} is never closed");
                k = q;
                continue;
            }
            if (depth == 0)
            {
                if ((c == '-' || (c == '+' && kind == '%')) && Ends(s, k + 1, close)) return (k, 3, c);
                if (Ends(s, k, close)) return (k, 2, '\0');
            }
            if (c is '(' or '[' or '{') depth++;
            else if (c is ')' or ']' or '}') depth = Math.Max(0, depth - 1);
        }
        throw new ChatTemplateException($"line {line}: a tag opened with '{{{(kind == '{' ? '{' : '%')}' is never closed with '{close}}}'");
    }

    static bool Ends(string s, int k, char close) => k + 1 < s.Length && s[k] == close && s[k + 1] == '}';

    // ------------------------------------------------------------------ tokens of an expression or statement

    static readonly string[] Operators = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    /// <summary>The tokens of one tag's content, ending with <see cref="TokenKind.End"/>.</summary>
    public static List<Token> Tokenize(string src, int line)
    {
        var tokens = new List<Token>();
        int k = 0;
        while (true)
        {
            while (k < src.Length && char.IsWhiteSpace(src[k])) k++;
            if (k >= src.Length) break;
            char c = src[k];
            if (char.IsLetter(c) || c == '_')
            {
                int start = k;
                while (k < src.Length && (char.IsLetterOrDigit(src[k]) || src[k] == '_')) k++;
                tokens.Add(new Token(TokenKind.Name, src[start..k]));
            }
            else if (char.IsAsciiDigit(c)) tokens.Add(Number(src, ref k, line));
            else if (c is '\'' or '"') tokens.Add(new Token(TokenKind.String, "string", StringLiteral(src, ref k, line)));
            else
            {
                string? op = Operators.FirstOrDefault(o => string.CompareOrdinal(src, k, o, 0, o.Length) == 0);
                if (op is null) throw new ChatTemplateException($"line {line}: unexpected character '{c}' in '{Short(src)}'");
                tokens.Add(new Token(TokenKind.Operator, op));
                k += op.Length;
            }
        }
        tokens.Add(new Token(TokenKind.End, ""));
        return tokens;
    }

    public static string Short(string src)
    {
        string t = src.Trim().ReplaceLineEndings(" ");
        return t.Length > 60 ? t[..60] + "…" : t;
    }

    static Token Number(string src, ref int k, int line)
    {
        int start = k;
        while (k < src.Length && (char.IsAsciiDigit(src[k]) || src[k] == '_')) k++;
        bool isFloat = false;
        if (k + 1 < src.Length && src[k] == '.' && char.IsAsciiDigit(src[k + 1]))
        {
            isFloat = true;
            k++;
            while (k < src.Length && (char.IsAsciiDigit(src[k]) || src[k] == '_')) k++;
        }
        if (k < src.Length && src[k] is 'e' or 'E')
        {
            int e = k + 1;
            if (e < src.Length && src[e] is '+' or '-') e++;
            if (e < src.Length && char.IsAsciiDigit(src[e]))
            {
                isFloat = true;
                k = e;
                while (k < src.Length && char.IsAsciiDigit(src[k])) k++;
            }
        }
        string text = src[start..k].Replace("_", "");
        if (isFloat) return new Token(TokenKind.Float, text, double.Parse(text, CultureInfo.InvariantCulture));
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            throw new ChatTemplateException($"line {line}: the integer {text} is too large");
        return new Token(TokenKind.Integer, text, v);
    }

    /// <summary>A quoted string with Python's escapes (<c>\n \t \r \\ \' \" \xhh \uhhhh \Uhhhhhhhh</c> …); an unknown escape stays as written.</summary>
    static string StringLiteral(string src, ref int k, int line)
    {
        char quote = src[k++];
        var b = new StringBuilder();
        while (true)
        {
            if (k >= src.Length) throw new ChatTemplateException($"line {line}: a string opened with {quote} is never closed");
            char c = src[k++];
            if (c == quote) return b.ToString();
            if (c != '\\' || k >= src.Length) { b.Append(c); continue; }
            char e = src[k++];
            switch (e)
            {
                case 'n': b.Append('\n'); break;
                case 't': b.Append('\t'); break;
                case 'r': b.Append('\r'); break;
                case 'b': b.Append('\b'); break;
                case 'f': b.Append('\f'); break;
                case 'v': b.Append('\v'); break;
                case 'a': b.Append('\a'); break;
                case '\\': b.Append('\\'); break;
                case '\'': b.Append('\''); break;
                case '"': b.Append('"'); break;
                case '\n': break;
                case 'x': b.Append(Hex(src, ref k, 2, line)); break;
                case 'u': b.Append(Hex(src, ref k, 4, line)); break;
                case 'U': b.Append(Hex(src, ref k, 8, line)); break;
                case >= '0' and <= '7':
                {
                    int v = e - '0', n = 1;
                    while (n < 3 && k < src.Length && src[k] is >= '0' and <= '7') { v = v * 8 + (src[k++] - '0'); n++; }
                    b.Append((char)v);
                    break;
                }
                default: b.Append('\\').Append(e); break;
            }
        }
    }

    static string Hex(string src, ref int k, int digits, int line)
    {
        if (k + digits > src.Length || !int.TryParse(src.AsSpan(k, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int v)
            || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF && digits == 8))
            throw new ChatTemplateException($"line {line}: a string holds a bad \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape");
        k += digits;
        return v <= 0xFFFF ? ((char)v).ToString() : char.ConvertFromUtf32(v);
    }
}
