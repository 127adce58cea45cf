namespace SparseMemory.Data.Chat;

// The syntax tree of a chat template: statements (Node) and expressions (Expr). Every node keeps its line for messages.

abstract record Node(int Line);
sealed record TextNode(string Text, int Line) : Node(Line);
sealed record OutputNode(Expr Value, int Line) : Node(Line);
sealed record IfNode(IReadOnlyList<(Expr Condition, IReadOnlyList<Node> Body)> Branches, IReadOnlyList<Node>? Else, int Line) : Node(Line);
/// <summary><c>{% for a[, b] in xs [if cond] %} … [{% else %} …] {% endfor %}</c>.</summary>
sealed record ForNode(IReadOnlyList<string> Targets, Expr Items, Expr? Filter, IReadOnlyList<Node> Body, IReadOnlyList<Node>? Else, int Line) : Node(Line);
/// <summary><c>{% set name = value %}</c>, or with <see cref="Attribute"/> <c>{% set name.attribute = value %}</c> on a namespace().</summary>
sealed record SetNode(string Name, string? Attribute, Expr Value, int Line) : Node(Line);
sealed record LoopControlNode(bool Break, int Line) : Node(Line);

abstract record Expr(int Line);
sealed record LiteralExpr(object? Value, int Line) : Expr(Line);
sealed record NameExpr(string Name, int Line) : Expr(Line);
/// <summary>A list literal, or with <see cref="Tuple"/> a tuple (written and compared as Python's).</summary>
sealed record ListExpr(IReadOnlyList<Expr> Items, int Line, bool Tuple = false) : Expr(Line);
sealed record DictExpr(IReadOnlyList<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);
sealed record AttrExpr(Expr Target, string Name, int Line) : Expr(Line);
sealed record ItemExpr(Expr Target, Expr Key, int Line) : Expr(Line);
sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);
sealed record CallExpr(Expr Callee, IReadOnlyList<Expr> Args, IReadOnlyList<(string Name, Expr Value)> Kwargs, int Line) : Expr(Line);
sealed record FilterExpr(Expr Value, string Name, IReadOnlyList<Expr> Args, IReadOnlyList<(string Name, Expr Value)> Kwargs, int Line) : Expr(Line);
sealed record TestExpr(Expr Value, string Name, IReadOnlyList<Expr> Args, bool Negated, int Line) : Expr(Line);
sealed record UnaryExpr(string Op, Expr Operand, int Line) : Expr(Line);
sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line) : Expr(Line);
sealed record CompareExpr(Expr First, IReadOnlyList<(string Op, Expr Right)> Rest, int Line) : Expr(Line);
sealed record CondExpr(Expr Then, Expr Condition, Expr? Else, int Line) : Expr(Line);

/// <summary>
/// Parses the pieces of <see cref="TemplateLexer"/> into a tree, with Jinja's operator precedence (lowest first:
/// <c>x if c else y</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>,
/// <c>* / // %</c>, <c>**</c>, unary <c>- +</c>, then subscripts, attributes, calls, <c>|filter</c> and <c>is test</c>).
/// A construct outside the subset (docs/own-model.md#chat-templates) is a <see cref="ChatTemplateException"/> naming it and its line.
/// </summary>
sealed class TemplateParser
{
    const int MaxDepth = 100;

    /// <summary>Statements outside the subset, named in the message (Jinja's own tags and extensions).</summary>
    static readonly string[] KnownUnsupported = ["macro", "call", "filter", "include", "import", "from", "extends", "block", "with", "raw", "autoescape", "do", "trans"];

    readonly List<Segment> _segments;
    int _pos, _depth;

    TemplateParser(List<Segment> segments) => _segments = segments;

    public static IReadOnlyList<Node> Parse(string source)
    {
        var p = new TemplateParser(TemplateLexer.Split(source));
        var (body, end, _, line) = p.Body([]);
        if (end is not null) throw new ChatTemplateException($"line {line}: '{{% {end} %}}' without a block it closes");
        return body;
    }

    /// <summary>Nodes up to a statement whose first word is in <paramref name="terminators"/> (consumed and returned with its tokens), or the end.</summary>
    (List<Node> Body, string? End, List<Token> EndTokens, int EndLine) Body(string[] terminators)
    {
        var nodes = new List<Node>();
        if (++_depth > MaxDepth) throw new ChatTemplateException($"line {Line}: blocks nested more than {MaxDepth} deep");
        try
        {
            while (_pos < _segments.Count)
            {
                var seg = _segments[_pos++];
                switch (seg.Kind)
                {
                    case SegmentKind.Text:
                        nodes.Add(new TextNode(seg.Text, seg.Line));
                        break;
                    case SegmentKind.Output:
                    {
                        var t = new Tokens(TemplateLexer.Tokenize(seg.Text, seg.Line), seg.Line, seg.Text);
                        if (t.Peek.Kind == TokenKind.End) throw new ChatTemplateException($"line {seg.Line}: an empty '{{{{ }}}}'");
                        var e = t.Expression();
                        t.ExpectEnd("{{ … }}");
                        nodes.Add(new OutputNode(e, seg.Line));
                        break;
                    }
                    default:
                    {
                        var tokens = TemplateLexer.Tokenize(seg.Text, seg.Line);
                        if (tokens[0].Kind != TokenKind.Name) throw new ChatTemplateException($"line {seg.Line}: '{{% {TemplateLexer.Short(seg.Text)} %}}' does not start with a statement name");
                        string word = tokens[0].Text;
                        if (terminators.Contains(word)) return (nodes, word, tokens, seg.Line);
                        nodes.Add(Statement(word, new Tokens(tokens, seg.Line, seg.Text), seg.Line));
                        break;
                    }
                }
            }
            return (nodes, null, [], Line);
        }
        finally { _depth--; }
    }

    int Line => _pos < _segments.Count ? _segments[_pos].Line : _segments.Count > 0 ? _segments[^1].Line : 1;

    Node Statement(string word, Tokens t, int line)
    {
        t.Next();
        switch (word)
        {
            case "if":
            {
                var branches = new List<(Expr, IReadOnlyList<Node>)>();
                var cond = t.Expression();
                t.ExpectEnd("{% if … %}");
                while (true)
                {
                    var (body, end, endTokens, endLine) = Body(["elif", "else", "endif"]);
                    branches.Add((cond, body));
                    if (end is null) throw new ChatTemplateException($"line {line}: '{{% if %}}' is never closed with '{{% endif %}}'");
                    var et = new Tokens(endTokens, endLine, "");
                    et.Next();
                    if (end == "elif") { cond = et.Expression(); et.ExpectEnd("{% elif … %}"); continue; }
                    if (end == "endif") { et.ExpectEnd("{% endif %}"); return new IfNode(branches, null, line); }
                    et.ExpectEnd("{% else %}");
                    var (elseBody, end2, end2Tokens, end2Line) = Body(["endif", "elif", "else"]);
                    if (end2 != "endif") throw new ChatTemplateException($"line {(end2 is null ? line : end2Line)}: '{{% if %}}' … '{{% else %}}' must be closed with '{{% endif %}}'{(end2 is null ? "" : $", found '{{% {end2} %}}'")}");
                    new Tokens(end2Tokens, end2Line, "").NextThenEnd("{% endif %}");
                    return new IfNode(branches, elseBody, line);
                }
            }
            case "for":
            {
                var targets = new List<string> { t.ExpectName("a loop variable after 'for'") };
                while (t.Peek.Is(",")) { t.Next(); targets.Add(t.ExpectName("a loop variable after ','")); }
                if (!t.Peek.IsName("in")) throw new ChatTemplateException($"line {line}: '{{% for %}}' expects 'in' after the loop variable, found {t.Peek}");
                t.Next();
                var items = t.Expression(withCondition: false);
                Expr? filter = null;
                if (t.Peek.IsName("if")) { t.Next(); filter = t.Expression(withCondition: false); }
                if (t.Peek.IsName("recursive")) throw new ChatTemplateException($"line {line}: recursive for loops are not supported");
                t.ExpectEnd("{% for … in … %}");
                var (body, end, endTokens, endLine) = Body(["endfor", "else"]);
                if (end is null) throw new ChatTemplateException($"line {line}: '{{% for %}}' is never closed with '{{% endfor %}}'");
                List<Node>? elseBody = null;
                if (end == "else")
                {
                    new Tokens(endTokens, endLine, "").NextThenEnd("{% else %}");
                    (elseBody, end, endTokens, endLine) = Body(["endfor"]);
                    if (end is null) throw new ChatTemplateException($"line {line}: '{{% for %}}' is never closed with '{{% endfor %}}'");
                }
                new Tokens(endTokens, endLine, "").NextThenEnd("{% endfor %}");
                return new ForNode(targets, items, filter, body, elseBody, line);
            }
            case "set":
            {
                string name = t.ExpectName("a variable name after 'set'");
                string? attr = null;
                if (t.Peek.Is(".")) { t.Next(); attr = t.ExpectName("an attribute name after '.'"); }
                if (t.Peek.Kind == TokenKind.End)
                    throw new ChatTemplateException($"line {line}: the block form '{{% set {name} %}} … {{% endset %}}' is not supported; use '{{% set {name} = … %}}'");
                if (t.Peek.Is(",")) throw new ChatTemplateException($"line {line}: '{{% set a, b = … %}}' (unpacking) is not supported");
                if (!t.Peek.Is("=")) throw new ChatTemplateException($"line {line}: '{{% set %}}' expects '=', found {t.Peek}");
                t.Next();
                var value = t.Expression();
                t.ExpectEnd("{% set … = … %}");
                return new SetNode(name, attr, value, line);
            }
            case "break" or "continue":
                t.ExpectEnd($"{{% {word} %}}");
                return new LoopControlNode(word == "break", line);
            case "generation":
            {
                // Hugging Face's marker of the assistant's text (for training masks): rendered as its content.
                t.ExpectEnd("{% generation %}");
                var (body, end, endTokens, endLine) = Body(["endgeneration"]);
                if (end is null) throw new ChatTemplateException($"line {line}: '{{% generation %}}' is never closed with '{{% endgeneration %}}'");
                new Tokens(endTokens, endLine, "").NextThenEnd("{% endgeneration %}");
                return new IfNode([(new LiteralExpr(true, line), body)], null, line);
            }
            case "elif" or "else" or "endif" or "endfor" or "endset" or "endgeneration":
                throw new ChatTemplateException($"line {line}: '{{% {word} %}}' without the block it belongs to");
            default:
                throw new ChatTemplateException($"line {line}: the statement '{{% {word} %}}' is not supported" +
                    (KnownUnsupported.Contains(word) ? "" : " (not a Jinja statement this interpreter knows)") +
                    "; supported: if/elif/else, for (with loop.*, else, break/continue), set (also namespace attributes), generation");
        }
    }

    // ------------------------------------------------------------------ expressions

    /// <summary>The tokens of one tag and the expression grammar over them.</summary>
    sealed class Tokens(List<Token> tokens, int line, string source)
    {
        int _i, _depth;

        public Token Peek => tokens[_i];
        public Token Next() => tokens[_i < tokens.Count - 1 ? _i++ : _i];

        ChatTemplateException Error(string what) => new($"line {line}: {what} in '{TemplateLexer.Short(source)}'");

        public void ExpectEnd(string what)
        {
            if (Peek.Kind != TokenKind.End) throw Error($"unexpected {Peek} after {what}");
        }

        public void NextThenEnd(string what)
        {
            Next();
            ExpectEnd(what);
        }

        public string ExpectName(string what)
        {
            var t = Next();
            return t.Kind == TokenKind.Name ? t.Text : throw Error($"expected {what}, found {t}");
        }

        void Expect(string op)
        {
            var t = Next();
            if (!t.Is(op)) throw Error($"expected '{op}', found {t}");
        }

        public Expr Expression(bool withCondition = true)
        {
            if (++_depth > MaxDepth) throw Error($"an expression nested more than {MaxDepth} deep");
            try
            {
                var e = Or();
                while (withCondition && Peek.IsName("if"))
                {
                    Next();
                    var cond = Or();
                    Expr? other = null;
                    if (Peek.IsName("else")) { Next(); other = Expression(); }
                    e = new CondExpr(e, cond, other, line);
                }
                return e;
            }
            finally { _depth--; }
        }

        Expr Or()
        {
            var e = And();
            while (Peek.IsName("or")) { Next(); e = new BinaryExpr("or", e, And(), line); }
            return e;
        }

        Expr And()
        {
            var e = Not();
            while (Peek.IsName("and")) { Next(); e = new BinaryExpr("and", e, Not(), line); }
            return e;
        }

        Expr Not()
        {
            if (!Peek.IsName("not")) return Compare();
            Next();
            return new UnaryExpr("not", Not(), line);
        }

        Expr Compare()
        {
            var first = Math1();
            var rest = new List<(string, Expr)>();
            while (true)
            {
                string? op = Peek.Kind == TokenKind.Operator && Peek.Text is "==" or "!=" or "<" or "<=" or ">" or ">=" ? Peek.Text
                    : Peek.IsName("in") ? "in"
                    : Peek.IsName("not") && tokens[_i + 1].IsName("in") ? "not in" : null;
                if (op is null) break;
                Next();
                if (op == "not in") Next();
                rest.Add((op, Math1()));
            }
            return rest.Count == 0 ? first : new CompareExpr(first, rest, line);
        }

        Expr Math1()
        {
            var e = Concat();
            while (Peek.Is("+") || Peek.Is("-")) { string op = Next().Text; e = new BinaryExpr(op, e, Concat(), line); }
            return e;
        }

        Expr Concat()
        {
            var e = Math2();
            while (Peek.Is("~")) { Next(); e = new BinaryExpr("~", e, Math2(), line); }
            return e;
        }

        Expr Math2()
        {
            var e = Pow();
            while (Peek.Kind == TokenKind.Operator && Peek.Text is "*" or "/" or "//" or "%") { string op = Next().Text; e = new BinaryExpr(op, e, Pow(), line); }
            return e;
        }

        Expr Pow()
        {
            var e = Unary(true);
            while (Peek.Is("**")) { Next(); e = new BinaryExpr("**", e, Unary(true), line); }
            return e;
        }

        Expr Unary(bool withFilter)
        {
            Expr e;
            if (Peek.Is("-") || Peek.Is("+"))
            {
                string op = Next().Text;
                e = new UnaryExpr(op, Unary(false), line);
            }
            else e = Primary();
            e = Postfix(e);
            return withFilter ? FilterTail(e) : e;
        }

        Expr Primary()
        {
            if (++_depth > MaxDepth) throw Error($"an expression nested more than {MaxDepth} deep");
            try
            {
                var t = Next();
                switch (t.Kind)
                {
                    case TokenKind.Name:
                        return t.Text switch
                        {
                            "true" or "True" => new LiteralExpr(true, line),
                            "false" or "False" => new LiteralExpr(false, line),
                            "none" or "None" => new LiteralExpr(null, line),
                            _ => new NameExpr(t.Text, line),
                        };
                    case TokenKind.String:
                    {
                        string s = (string)t.Value!;
                        while (Peek.Kind == TokenKind.String) s += (string)Next().Value!;      // adjacent literals join, as in Python
                        return new LiteralExpr(s, line);
                    }
                    case TokenKind.Integer or TokenKind.Float:
                        return new LiteralExpr(t.Value, line);
                }
                if (t.Is("("))
                {
                    if (Peek.Is(")")) { Next(); return new ListExpr([], line, Tuple: true); }
                    var first = Expression();
                    if (Peek.Is(")")) { Next(); return first; }
                    var items = new List<Expr> { first };
                    while (Peek.Is(","))
                    {
                        Next();
                        if (Peek.Is(")")) break;
                        items.Add(Expression());
                    }
                    Expect(")");
                    return new ListExpr(items, line, Tuple: true);
                }
                if (t.Is("["))
                {
                    var items = new List<Expr>();
                    while (!Peek.Is("]"))
                    {
                        items.Add(Expression());
                        if (!Peek.Is(",")) break;
                        Next();
                    }
                    Expect("]");
                    return new ListExpr(items, line);
                }
                if (t.Is("{"))
                {
                    var items = new List<(Expr, Expr)>();
                    while (!Peek.Is("}"))
                    {
                        var key = Expression();
                        Expect(":");
                        items.Add((key, Expression()));
                        if (!Peek.Is(",")) break;
                        Next();
                    }
                    Expect("}");
                    return new DictExpr(items, line);
                }
                throw Error(t.Kind == TokenKind.End ? "the expression ends too early" : $"unexpected {t}");
            }
            finally { _depth--; }
        }

        Expr Postfix(Expr e)
        {
            while (true)
            {
                if (Peek.Is("."))
                {
                    Next();
                    var t = Next();
                    if (t.Kind == TokenKind.Name) e = new AttrExpr(e, t.Text, line);
                    else if (t.Kind == TokenKind.Integer) e = new ItemExpr(e, new LiteralExpr(t.Value, line), line);
                    else throw Error($"expected an attribute name after '.', found {t}");
                    if (Peek.Is("(") && e is AttrExpr call && !Builtins.Methods.Contains(call.Name))
                        throw Error($"the method .{call.Name}() is not supported (supported: {string.Join(", ", Builtins.Methods.Order().Select(m => "." + m + "()"))})");
                }
                else if (Peek.Is("["))
                {
                    Next();
                    Expr? start = null, stop = null, step = null;
                    bool slice = false;
                    if (!Peek.Is(":")) start = Expression();
                    if (Peek.Is(":"))
                    {
                        slice = true;
                        Next();
                        if (!Peek.Is(":") && !Peek.Is("]")) stop = Expression();
                        if (Peek.Is(":")) { Next(); if (!Peek.Is("]")) step = Expression(); }
                    }
                    Expect("]");
                    e = slice ? new SliceExpr(e, start, stop, step, line) : new ItemExpr(e, start!, line);
                }
                else if (Peek.Is("(")) e = Call(e);
                else return e;
            }
        }

        Expr Call(Expr callee)
        {
            var (args, kwargs) = Arguments();
            return new CallExpr(callee, args, kwargs, line);
        }

        (List<Expr> Args, List<(string, Expr)> Kwargs) Arguments()
        {
            Expect("(");
            var args = new List<Expr>();
            var kwargs = new List<(string, Expr)>();
            while (!Peek.Is(")"))
            {
                if (Peek.Is("*") || Peek.Is("**")) throw Error("'*args' and '**kwargs' in calls are not supported");
                if (Peek.Kind == TokenKind.Name && tokens[_i + 1].Is("="))
                {
                    string name = Next().Text;
                    Next();
                    kwargs.Add((name, Expression()));
                }
                else
                {
                    if (kwargs.Count > 0) throw Error("a positional argument after a keyword argument");
                    args.Add(Expression());
                }
                if (!Peek.Is(",")) break;
                Next();
            }
            Expect(")");
            return (args, kwargs);
        }

        Expr FilterTail(Expr e)
        {
            while (true)
            {
                if (Peek.Is("|"))
                {
                    Next();
                    string name = ExpectName("a filter name after '|'");
                    if (!Builtins.Filters.Contains(name))
                        throw Error($"the filter '|{name}' is not supported (supported: {string.Join(", ", Builtins.Filters.Order())})");
                    var (args, kwargs) = Peek.Is("(") ? Arguments() : ([], []);
                    e = new FilterExpr(e, name, args, kwargs, line);
                }
                else if (Peek.IsName("is"))
                {
                    Next();
                    bool negated = false;
                    if (Peek.IsName("not")) { Next(); negated = true; }
                    string name = ExpectName("a test name after 'is'");
                    if (!Builtins.Tests.Contains(name))
                        throw Error($"the test 'is {name}' is not supported (supported: {string.Join(", ", Builtins.Tests.Order())})");
                    List<Expr> args;
                    if (Peek.Is("(")) args = Arguments().Args;
                    else if ((Peek.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || Peek.Is("[") || Peek.Is("{"))
                             && !(Peek.IsName("else") || Peek.IsName("or") || Peek.IsName("and") || Peek.IsName("if") || Peek.IsName("in") || Peek.IsName("not")))
                        args = [Postfix(Primary())];
                    else args = [];
                    e = new TestExpr(e, name, args, negated, line);
                }
                else if (Peek.Is("(")) e = Call(e);
                else return e;
            }
        }
    }
}
