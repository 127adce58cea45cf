using CsCheck;
using SparseMemory.Data.Chat;
using Xunit;

namespace SparseMemory.Tests.Data;

/// <summary>
/// The Jinja-subset interpreter of chat templates (docs/own-model.md#chat-templates). The three model-style templates
/// are written for these tests in the three common shapes (ChatML, Llama 3 headers, Mistral [INST] with the system
/// message folded into the first user turn); their expected strings, and those of the single-construct cases, are
/// written out by hand from Jinja's rules as the Hugging Face tokenizers configure them (trim_blocks, lstrip_blocks, no
/// trailing newline). All rendering cases were also run once through Python's Jinja2 3.1.6 set up that way (outside
/// the suite, which has no Python): they agree, except for error texts and <c>generation</c> (a Hugging Face extension).
/// </summary>
public sealed class ChatTemplateTests
{
    static string Render(string template, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true, string? bos = "<s>", string? eos = "</s>") =>
        ChatTemplate.Parse(template).Render(messages, addGenerationPrompt, bos, eos);

    static string Eval(string template, params (string Name, object? Value)[] vars) =>
        ChatTemplate.Parse(template).Render(vars.ToDictionary(v => v.Name, v => v.Value));

    static readonly ChatMessage[] UserOnly = [new("user", "Hi there")];
    static readonly ChatMessage[] WithSystem = [new("system", "Be brief."), new("user", "  What is 2+2? "), new("assistant", "4"), new("user", "And 3+3?")];

    // ------------------------------------------------------------------ ChatML (Qwen2 / SmolLM style)

    /// <summary>ChatML written with explicit whitespace control.</summary>
    const string ChatMl =
        "{%- for message in messages %}\n" +
        "  {%- if loop.first and message['role'] != 'system' %}\n" +
        "{{- '<|im_start|>system\\nYou are a careful assistant.<|im_end|>\\n' }}\n" +
        "  {%- endif %}\n" +
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\n" +
        "{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n" +
        "{{- '<|im_start|>assistant\\n' }}\n" +
        "{%- endif %}\n";

    /// <summary>The same format relying on trim_blocks and lstrip_blocks alone (the text is written as it is output).</summary>
    const string ChatMlBlocks =
        "{% for message in messages %}\n" +
        "    {% if loop.first and messages[0].role != 'system' %}\n" +
        "<|im_start|>system\n" +
        "You are a careful assistant.<|im_end|>\n" +
        "    {% endif %}\n" +
        "<|im_start|>{{ message.role }}\n" +
        "{{ message.content }}<|im_end|>\n" +
        "{% endfor %}\n" +
        "{% if add_generation_prompt %}\n" +
        "<|im_start|>assistant\n" +
        "{% endif %}\n";

    [Theory]
    [InlineData(ChatMl)]
    [InlineData(ChatMlBlocks)]
    public void ChatMl_renders_a_default_system_turn_only_when_none_is_given(string template)
    {
        Assert.Equal(
            "<|im_start|>system\nYou are a careful assistant.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
            Render(template, UserOnly));
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n  What is 2+2? <|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n" +
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n",
            Render(template, WithSystem));
        Assert.Equal(
            "<|im_start|>system\nYou are a careful assistant.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n",
            Render(template, UserOnly, addGenerationPrompt: false));
    }

    // ------------------------------------------------------------------ Llama 3 headers

    const string Llama3 =
        "{% for message in messages %}\n" +
        "{% set text = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}\n" +
        "{% if loop.index0 == 0 %}{% set text = bos_token + text %}{% endif %}\n" +
        "{{ text }}{% endfor %}\n" +
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

    [Fact]
    public void Llama3_headers_trim_only_the_content_and_put_bos_first()
    {
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            Render(Llama3, WithSystem, bos: "<|begin_of_text|>", eos: "<|end_of_text|>"));
    }

    // ------------------------------------------------------------------ Mistral-like [INST]

    const string Mistral =
        "{{- bos_token -}}\n" +
        "{%- set ns = namespace(system=none, turn=0) -%}\n" +
        "{%- for m in messages -%}\n" +
        "  {%- if m.role == 'system' -%}\n" +
        "    {%- if not loop.first -%}{{ raise_exception('A system message may only come first.') }}{%- endif -%}\n" +
        "    {%- set ns.system = m.content -%}\n" +
        "  {%- elif m.role == ('user' if ns.turn is even else 'assistant') -%}\n" +
        "    {%- if m.role == 'user' -%}\n" +
        "      {{- '[INST] ' ~ (ns.system ~ '\\n\\n' if ns.system is not none and ns.turn == 0 else '') ~ m.content | trim ~ ' [/INST]' -}}\n" +
        "    {%- else -%}\n" +
        "      {{- ' ' ~ m.content | trim ~ eos_token -}}\n" +
        "    {%- endif -%}\n" +
        "    {%- set ns.turn = ns.turn + 1 -%}\n" +
        "  {%- else -%}\n" +
        "    {{- raise_exception('Expected role ' ~ ('user' if ns.turn is even else 'assistant') ~ ' at message ' ~ loop.index ~ ', got ' ~ m.role ~ '.') -}}\n" +
        "  {%- endif -%}\n" +
        "{%- endfor -%}\n";

    [Fact]
    public void Mistral_folds_the_system_message_into_the_first_user_turn()
    {
        Assert.Equal("<s>[INST] Be brief.\n\nWhat is 2+2? [/INST] 4</s>[INST] And 3+3? [/INST]", Render(Mistral, WithSystem));
        Assert.Equal("<s>[INST] Hi there [/INST]", Render(Mistral, UserOnly));
    }

    [Fact]
    public void Mistral_refuses_a_wrong_role_order_with_its_own_message()
    {
        var e = Assert.Throws<ChatTemplateRaisedException>(() => Render(Mistral, [new("user", "a"), new("user", "b")]));
        Assert.Equal("Expected role assistant at message 2, got user.", e.Message);
        e = Assert.Throws<ChatTemplateRaisedException>(() => Render(Mistral, [new("user", "a"), new("system", "b")]));
        Assert.Equal("A system message may only come first.", e.Message);
        e = Assert.Throws<ChatTemplateRaisedException>(() => Render(Mistral, [new("assistant", "a")]));
        Assert.Equal("Expected role user at message 1, got assistant.", e.Message);
    }

    // ------------------------------------------------------------------ whitespace

    [Theory]
    [InlineData("a  {%- if true %}b{% endif %}", "ab")]
    [InlineData("a {% if true -%}   b{% endif %}", "a b")]
    [InlineData("a\n  {% if true %}\nb\n  {% endif %}\nc", "a\nb\nc")]                // lstrip_blocks + trim_blocks
    [InlineData("a\n  {%+ if true %}\nb{% endif %}", "a\n  b")]                      // '+' keeps the indentation
    [InlineData("a\n{% if true +%}\nb{% endif %}", "a\n\nb")]                         // '+' keeps the newline
    [InlineData("x {{ 1 }}\n  {{ 2 }}\n", "x 1\n  2")]                                // output tags are never trimmed; last newline dropped
    [InlineData("x {{- 1 -}} \n y", "x1y")]
    [InlineData("a {# note #}\nb", "a b")]                                             // comments trim like blocks
    [InlineData("a\n    {# note #}\nb", "a\nb")]
    [InlineData("a {{ 'x' }} {% if false %}no{% endif %}b", "a x b")]               // lstrip only at the start of a line
    [InlineData("l1\r\nl2\r\n", "l1\nl2")]
    public void Whitespace_control_follows_jinja_with_trim_and_lstrip_blocks(string template, string expected) =>
        Assert.Equal(expected, Eval(template));

    // ------------------------------------------------------------------ expressions

    [Theory]
    [InlineData("{{ 1 + 2 * 3 }}", "7")]
    [InlineData("{{ (1 + 2) * 3 }}", "9")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}", "3 -4 2 3.5 1024")]
    [InlineData("{{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e-5 }} {{ 100.0 }}", "2.5 0.30000000000000004 1e+16 1e-05 100.0")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ true }}", "a1NoneTrue")]
    [InlineData("{{ 'ab' * 3 }} {{ [1, 2] + [3] }}", "ababab [1, 2, 3]")]
    [InlineData("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' > 'a' }}", "True False True")]
    [InlineData("{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }}", "True True True True")]
    [InlineData("{{ not 0 }} {{ [] or 'x' }} {{ 'a' and 'b' }} {{ none or 0 }}", "True x b 0")]
    [InlineData("{{ 'yes' if 1 else 'no' }} {{ 'yes' if '' else 'no' }} [{{ 'only' if false }}]", "yes no []")]
    [InlineData("{{ 'it''s' }} {{ \"a\\tb\" }} {{ '\\u00e9\\x41' }}", "its a\tb éA")]
    [InlineData("{{ {'a': 1, 'b': [true, none]} }} {{ ('x', 2) }} {{ ('x',) }} {{ ('x', 2) == ['x', 2] }} {{ (1,) + (2,) }}", "{'a': 1, 'b': [True, None]} ('x', 2) ('x',) False (1, 2)")]
    [InlineData("{{ [1, 2, 3, 4][1:3] }} {{ [1, 2, 3][::-1] }} {{ 'hello'[-3:] }} {{ [1, 2, 3][-1] }}", "[2, 3] [3, 2, 1] llo 3")]
    [InlineData("{{ 1 == 1.0 }} {{ true == 1 }} {{ [1] == [1] }} {{ 'a' != 'a' }}", "True True True False")]
    [InlineData("{{ -3 | abs }} {{ '42' | int + 1 }} {{ '2.5' | float }} {{ 3 | string ~ '!' }}", "3 43 2.5 3!")]
    public void Expressions_follow_python_and_jinja(string template, string expected) => Assert.Equal(expected, Eval(template));

    [Theory]
    [InlineData("{{ '  x  ' | trim }}|{{ 'xxaxx' | trim('x') }}", "x|a")]
    [InlineData("{{ 'héllo' | length }} {{ [1, 2] | count }} {{ {'a': 1} | length }} {{ nothing | length }}", "5 2 1 0")]
    [InlineData("{{ ['a', 'b'] | join(', ') }} {{ [1, 2] | join }}", "a, b 12")]
    [InlineData("{{ 'aBc' | upper }} {{ 'aBc' | lower }} {{ 'hello world' | capitalize }} {{ 'hello big-world' | title }}", "ABC abc Hello world Hello Big-World")]
    [InlineData("{{ nothing | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }}", "d  d")]
    [InlineData("{{ [3, 4] | first }} {{ [3, 4] | last }} {{ 'abc' | list }} {{ [1, 2] | reverse | list }}", "3 4 ['a', 'b', 'c'] [2, 1]")]
    [InlineData("{{ 'a-b-c' | replace('-', '+') }} {{ {'k': 'v'} | items | list }}", "a+b+c [('k', 'v')]")]
    [InlineData("{{ [1, 2, 3, 4] | select('even') | list }} {{ [0, 1, none] | reject | list }}", "[2, 4] [0, None]")]
    [InlineData("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('/') }}", "a/c")]
    [InlineData("{{ msgs | rejectattr('role', 'eq', 'user') | list | length }} {{ ['a', 'b'] | map('upper') | join }}", "1 AB")]
    [InlineData("{{ {'a': [1, 'x\"y'], 'b': none} | tojson }}", "{\"a\": [1, \"x\\\"y\"], \"b\": null}")]
    [InlineData("{{ {'a': [1, 2]} | tojson(indent=2) }}", "{\n  \"a\": [\n    1,\n    2\n  ]\n}")]
    [InlineData("{{ 'é\n' | tojson }}", "\"é\\n\"")]
    public void Filters_behave_as_in_jinja(string template, string expected) =>
        Assert.Equal(expected, Eval(template, ("msgs", new object[] { new ChatMessage("user", "a"), new ChatMessage("assistant", "b"), new ChatMessage("user", "c") })));

    [Theory]
    [InlineData("{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ x is not none }}", "True False True True")]
    [InlineData("{{ 'a' is string }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 1 is number }} {{ none is none }}", "True True True True True True")]
    [InlineData("{{ {} is mapping }} {{ [] is sequence }} {{ 'x' is iterable }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }}", "True True True True True True")]
    [InlineData("{{ 2 is equalto 2 }} {{ 2 is ne 3 }} {{ 'a' is in ['a'] }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ not x is defined }}", "True True True True True False")]
    [InlineData("{{ '  hi  '.strip() }}|{{ 'xhix'.strip('x') }}|{{ ' hi'.lstrip() }}|{{ 'hi '.rstrip() }}", "hi|hi|hi|hi")]
    [InlineData("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'a b  c'.split() }} {{ 'a,b,c'.split(',', 1) }}", "True True ['a', 'b', 'c'] ['a', 'b,c']")]
    [InlineData("{{ 'ab'.upper() }} {{ 'AB'.lower() }} {{ 'hello world'.title() }} {{ 'aaa'.replace('a', 'b', 2) }}", "AB ab Hello World bba")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 0) }} {{ {'a': 1}.keys() | list }} {{ {'a': 1}.items() | first }}", "a=1;b=2; 1 0 ['a'] ('a', 1)")]
    public void Tests_and_methods_behave_as_in_jinja(string template, string expected) => Assert.Equal(expected, Eval(template, ("x", 1L)));

    // ------------------------------------------------------------------ statements and scope

    [Theory]
    [InlineData("{% for x in [1, 2, 3] %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.length }}/{{ loop.first }}/{{ loop.last }};{% endfor %}",
        "1/0/3/3/True/False;2/1/2/3/False/False;3/2/1/3/False/True;")]
    [InlineData("{% for x in 'ab' %}{{ loop.previtem is defined }}{{ x }}{{ loop.nextitem | default('-') }} {% endfor %}", "Falseab Trueb- ")]
    [InlineData("{% for x in [] %}no{% else %}empty{% endfor %}", "empty")]
    [InlineData("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}:{{ loop.index }} {% endfor %}", "2:1 4:2 ")]
    [InlineData("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", "13")]
    [InlineData("{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", "1x1 1y2 1|2x1 2y2 2|")]
    [InlineData("{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %}", "c")]
    [InlineData("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x ~ i %}{{ x }} {% endfor %}[{{ x }}]", "11 12 [1]")]
    [InlineData("{% set ns = namespace(n=0) %}{% for i in range(5) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "10")]
    [InlineData("{% set x = 'outer' %}{% if true %}{% set x = 'inner' %}{% endif %}{{ x }}", "inner")]
    [InlineData("{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}{{ range(3) | list }}", "135[0, 1, 2]")]
    [InlineData("{% generation %}{{ 'kept' }}{% endgeneration %}", "kept")]
    [InlineData("{{ dict(a=1)['a'] }} {{ namespace(a=2).a }}", "1 2")]
    public void Statements_and_scoping_follow_jinja(string template, string expected) => Assert.Equal(expected, Eval(template));

    /// <summary>
    /// Mixed constructs as chat templates combine them (messages, loops, filters, numbers, whitespace); the expected
    /// strings are Jinja2 3.1.6's output (run outside the suite as Hugging Face configures it), each read through by hand.
    /// </summary>
    [Theory]
    [InlineData("{% for m in msgs %}{% if m.role == 'user' %}{{ '[U]' + m.content }}{% elif m.role == 'assistant' %}{{ '[A]' + m.content }}{% endif %}{% endfor %}", "[U]a[A]b[U]c")]
    [InlineData("{%- set ns = namespace(last=-1) %}{%- for m in msgs %}{%- if m.role == 'user' %}{%- set ns.last = loop.index0 %}{%- endif %}{%- endfor %}{{ ns.last }}", "2")]
    [InlineData("{{ msgs[-1].content }} {{ (msgs | last).role }} {{ msgs | map(attribute='role') | list }}", "c user ['user', 'assistant', 'user']")]
    [InlineData("{{ msgs[1:] | length }} {{ msgs[::-1][0].content }} {{ msgs[5:] }}", "2 c []")]
    [InlineData("{% if msgs[0]['role'] == 'system' %}{% set sys = msgs[0]['content'] %}{% set rest = msgs[1:] %}{% else %}{% set rest = msgs %}{% endif %}{{ rest | length }}{{ sys is defined }}", "3False")]
    [InlineData("  {%- if true %}\n    x\n  {%- endif %}\n", "    x")]
    [InlineData("{{ 'a' if x is defined and x > 0 else 'b' }} {{ x | string + 'b' }} {{ -2 ** 2 }} {{ 2 ** -1 }}", "a 1b 4 0.5")]
    [InlineData("{{ 10 / 4 }} {{ 2 * 3.0 }} {{ 7 % -3 }} {{ -7 // 2.0 }} {{ 1 / 3 }}", "2.5 6.0 -2 -4.0 0.3333333333333333")]
    [InlineData("{{ 'abc'[1] }} {{ 'abc'[-1] }} {{ 'abc'[5] }}|", "b c |")]
    [InlineData("{{ {'b': 1, 'a': 2} | tojson }} {{ [1.5, 'x', none, true] | tojson }} {{ 'π\\t' | tojson }}", "{\"b\": 1, \"a\": 2} [1.5, \"x\", null, true] \"π\\t\"")]
    [InlineData("{{ true and 'x' }} {{ 0 or none }} {{ none | default('d') }} {{ '  a  b  ' | trim | length }}", "x None None 4")]
    [InlineData("{{ 'Hello World'.split(' ') }} {{ 'x'.startswith('') }} {{ ' a '.strip() ~ '|' }}", "['Hello', 'World'] True a|")]
    [InlineData("{% set a = [1] %}{% set b = a + [2] %}{{ a }}{{ b }}", "[1][1, 2]")]
    [InlineData("{% if true %}\n  text\n{% endif %}", "  text\n")]
    [InlineData("a {{- ' x ' -}} b|a {#- c -#} b", "a x b|ab")]
    [InlineData("{% for a in [1,2] %}{% set outer = loop %}{% for b in [3] %}{{ outer.index }}{% endfor %}{% endfor %}", "12")]
    [InlineData("{{ 1 if true }}{{ range(3) | list | tojson }} {{ 3 is divisibleby(3) }} {{ msgs | selectattr('role', 'in', ['user']) | list | length }}", "1[0, 1, 2] True 2")]
    [InlineData("{{ \"a\\\"b\" }} {{ 'tab\\there' }} {{ 'new\nline' }}", "a\"b tab\there new\nline")]
    [InlineData("{% for m in msgs %}{{ loop.index }}{% if not loop.last %}, {% endif %}{% endfor %}", "1, 2, 3")]
    [InlineData("{% for m in msgs if m.role != 'assistant' %}{{ m.content }}{{ loop.length }}{% else %}none{% endfor %}", "a2c2")]
    [InlineData("{%- for m in msgs %}\n{{- m.content }}\n{%- if loop.last %}!{% endif %}\n{%- endfor %}", "abc!")]
    [InlineData("{{ msgs | length > 2 }} {{ not msgs }} {{ msgs is sequence }} {{ msgs[0] is mapping }}", "True False True True")]
    [InlineData("{{ 'a,b'.split(',') | join('-') }} {{ 'AbC'.lower().upper() }} {{ ('a' ~ 'b') * 2 }}", "a-b ABC abab")]
    [InlineData("{% set d = {'k': msgs[0]} %}{{ d.k.role }} {{ d['k']['content'] }} {{ d.get('z', 'none') }}", "user a none")]
    [InlineData("{% for i in range(3) %}{% for j in range(3) %}{% if j > i %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}", "00 10 11 20 21 22 ")]
    [InlineData("{{ 1.0 }} {{ 1e3 }} {{ 0.5 + 0.25 }} {{ 3.0 // 2 }} {{ 2 ** 0.5 }} {{ 1e100 }} {{ -0.0 }} {{ 123456789.0 * 1000 }}", "1.0 1000.0 0.75 1.0 1.4142135623730951 1e+100 -0.0 123456789000.0")]
    [InlineData("{{ 'x' ~ 1.5 ~ [1] ~ {'a': none} }}", "x1.5[1]{'a': None}")]
    [InlineData("{{ messages is defined }} {{ msgs[0].content is string }} {{ 5 is number }} {{ true is number }} {{ 1 is boolean }}", "False True True True False")]
    [InlineData("{% set x = 5 %}{% for i in [1] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", "65")]
    [InlineData("{{ [3,1,2] | first }}{{ 'hello' | first }}{{ 'hello' | last }}{{ [] | first is defined }}", "3hoFalse")]
    [InlineData("{{ 'a' in msgs | map(attribute='content') | list }}", "True")]
    [InlineData("{{ msgs | rejectattr('content', 'equalto', 'b') | map(attribute='content') | join }}", "ac")]
    [InlineData("{{ {'a': 1}.items() | list }} {{ {'a': {'b': [1]}} | tojson(indent=2) }}", "[('a', 1)] {\n  \"a\": {\n    \"b\": [\n      1\n    ]\n  }\n}")]
    [InlineData("{{ 2 * [0] }} {{ 0.1 is odd }} {{ 3.0 is odd }} {{ 4 is divisibleby 2.0 }} {{ none | map('string') | list }} {{ false | select | list }} {{ range(2) }} {{ range(0, 6, 2) }}",
        "[0, 0] False True True [] [] range(0, 2) range(0, 6, 2)")]
    public void Combined_constructs_render_as_jinja_would(string template, string expected) =>
        Assert.Equal(expected, Eval(template, ("x", 1L), ("msgs", new object[] { new ChatMessage("user", "a"), new ChatMessage("assistant", "b"), new ChatMessage("user", "c") })));

    // ------------------------------------------------------------------ refusals

    [Theory]
    [InlineData("{% macro m() %}x{% endmacro %}", "line 1", "'{% macro %}' is not supported")]
    [InlineData("a\nb\n{% include 'x.j2' %}", "line 3", "'{% include %}' is not supported")]
    [InlineData("{{ x | wordcount }}", "line 1", "filter '|wordcount' is not supported")]
    [InlineData("{{ loop.cycle('a', 'b') }}", "line 1", "method .cycle() is not supported")]
    [InlineData("{% set x %}text{% endset %}", "line 1", "block form")]
    [InlineData("{% if x is callable %}{% endif %}", "line 1", "test 'is callable' is not supported")]
    [InlineData("{% raw %}x{% endraw %}", "line 1", "'{% raw %}' is not supported")]
    [InlineData("{% if x %}never closed", "line 1", "never closed with '{% endif %}'")]
    [InlineData("{% endfor %}", "line 1", "without the block it belongs to")]
    [InlineData("{{ 'unclosed }}", "line 1", "never closed")]
    [InlineData("{{ 1 + }}", "line 1", "ends too early")]
    [InlineData("{% for a, b in x recursive %}{% endfor %}", "line 1", "recursive")]
    [InlineData("{{ f(*args) }}", "line 1", "'*args'")]
    [InlineData("x\n{{ a b }}", "line 2", "unexpected 'b'")]
    public void Unsupported_constructs_and_syntax_errors_are_refused_at_parse_naming_them(string template, string line, string what)
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template));
        Assert.StartsWith(line + ":", e.Message);
        Assert.Contains(what, e.Message);
    }

    [Theory]
    [InlineData("{{ messages[5].role }}", "'messages[5]' is undefined (reading .role)")]
    [InlineData("{{ strftime_now('%d %b %Y') }}", "calls strftime_now(), which this interpreter does not provide")]
    [InlineData("{{ 'a' + 1 }}", "'+' is not defined between a string and an integer")]
    [InlineData("{{ 1 // 0 }}", "division by zero")]
    [InlineData("{{ 'x' % 2 }}", "string formatting with '%' is not supported")]
    [InlineData("{% set x.y = 1 %}", "only a namespace() takes attributes")]
    [InlineData("{{ range(1000000) | length }}", "range() of more than")]
    [InlineData("{{ 'x' * 10000000 }}", "a string of more than")]
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "a string of more than")]
    [InlineData("{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}", "more than 1,000,000 steps")]
    [InlineData("{% break %}", "outside a for loop")]
    [InlineData("{{ 9223372036854775807 + 1 }}", "integer overflow")]
    public void Render_errors_name_what_failed(string template, string what)
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template).Render(UserOnly, true, null, null));
        Assert.Contains(what, e.Message);
    }

    [Fact]
    public void Bos_and_eos_are_undefined_when_not_given_and_tools_is_none()
    {
        Assert.Equal("<s>|True|True", ChatTemplate.Parse("{{ bos_token }}|{{ eos_token is defined }}|{{ tools is none and documents is none }}").Render(UserOnly, true, "<s>", "</s>"));
        Assert.Equal("|False|True", ChatTemplate.Parse("{{ bos_token }}|{{ eos_token is defined }}|{{ tools is none and documents is none }}").Render(UserOnly, true, null, null));
    }

    /// <summary>
    /// Safety: any text, parsed and rendered, either works or fails with a <see cref="ChatTemplateException"/> — never
    /// another exception (a cast, an index, a stack overflow) and never a hang (every rendering is bounded).
    /// </summary>
    [Fact]
    public void Random_templates_fail_only_with_template_errors()
    {
        string[] pieces =
        [
            "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", " ", "\n", "if", "for", "in", "endif", "endfor", "else", "elif", "set", "x", "=", "messages",
            "loop", ".", "index", "[", "]", "(", ")", "0", "1", "-1", "'a'", "\"b\"", "|", "trim", "length", "join", "is", "defined", "not", "and", "or",
            "~", "*", "/", "//", "%", "**", "==", "<", ",", ":", "namespace", "ns", "raise_exception", "range", "role", "content", "items", "{", "}",
            "tojson", "strip", "none", "true", "break", "1e3", "\\", "'", "\"",
        ];
        Gen.Int[0, pieces.Length - 1].Array[0, 40].Select(ix => string.Concat(ix.Select(i => pieces[i]))).Sample(src =>
        {
            ChatTemplate t;
            try { t = ChatTemplate.Parse(src); }
            catch (ChatTemplateException) { return; }
            try { t.Render(WithSystem, true, "<s>", "</s>"); }
            catch (ChatTemplateException) { }
        }, iter: 3000);
    }
}
