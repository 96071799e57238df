//! Behaviour tests of the renderer against Go `text/template` semantics.

use serde_json::{json, Value};

use crate::{parse, MissingKey, TemplateError};

fn render(src: &str, data: &Value) -> String {
    parse(src)
        .unwrap_or_else(|err| panic!("parse {src:?}: {err}"))
        .render(data)
        .unwrap_or_else(|err| panic!("render {src:?}: {err}"))
}

fn render_go_map(src: &str, data: &Value) -> String {
    parse(src).unwrap().render_with(data, MissingKey::NoValue).unwrap()
}

fn parse_error(src: &str) -> TemplateError {
    match parse(src) {
        Ok(_) => panic!("{src:?} parsed"),
        Err(err) => {
            assert!(err.is_parse(), "{err:?}");
            err
        }
    }
}

fn exec_error(src: &str, data: &Value) -> TemplateError {
    match parse(src).unwrap().render(data) {
        Ok(out) => panic!("{src:?} rendered {out:?}"),
        Err(err) => {
            assert!(!err.is_parse(), "{err:?}");
            err
        }
    }
}

fn ctx() -> Value {
    json!({
        "Name": "garm-abc",
        "Labels": ["linux", "x64"],
        "Empty": "",
        "Zero": 0,
        "Count": 3,
        "Ratio": 2.5,
        "Whole": 2.0,
        "Yes": true,
        "No": false,
        "Null": null,
        "Nested": {"Inner": {"Value": "deep"}, "List": [10, 20]},
        "Map": {"b": 2, "a": 1, "c": 3},
        "EmptyList": [],
        "EmptyMap": {},
        "Html": "<a href=\"x\">&</a>",
    })
}

#[test]
fn text_without_actions_is_copied_verbatim() {
    assert_eq!(render("hello } world }}", &json!({})), "hello } world }}");
    assert_eq!(render("", &json!({})), "");
}

#[test]
fn fields_chain_through_objects() {
    let data = ctx();
    assert_eq!(render("{{.Name}}", &data), "garm-abc");
    assert_eq!(render("{{ .Nested.Inner.Value }}", &data), "deep");
    assert_eq!(render("{{.Nested.Inner}}", &data), "map[Value:deep]");
    assert_eq!(render("{{ $.Name }}-{{ . | len }}", &json!({"Name": "x"})), "x-1");
    assert_eq!(render("{{.}}", &json!("plain")), "plain");
}

#[test]
fn values_print_like_go() {
    let data = ctx();
    assert_eq!(render("{{.Count}} {{.Ratio}} {{.Whole}}", &data), "3 2.5 2");
    assert_eq!(render("{{.Yes}} {{.No}}", &data), "true false");
    assert_eq!(render("{{.Labels}}", &data), "[linux x64]");
    assert_eq!(render("{{.Map}}", &data), "map[a:1 b:2 c:3]");
    assert_eq!(
        render("{{ 1e6 }} {{ 0x10 }} {{ 'a' }} {{ -3 }}", &data),
        "1e+06 16 97 -3"
    );
    assert_eq!(render(r#"{{ "a\tb" }} {{ `raw\n` }}"#, &data), "a\tb raw\\n");
}

#[test]
fn missing_keys_render_empty_for_struct_like_contexts() {
    let data = ctx();
    assert_eq!(render("[{{.Missing}}]", &data), "[]");
    assert_eq!(render("[{{.Missing.Deeper}}]", &data), "[]");
    assert_eq!(render("[{{.Null}}]", &data), "[]");
    assert_eq!(render("[{{.Null.Field}}]", &data), "[]");
    assert_eq!(render("{{ if .Missing }}y{{ else }}n{{ end }}", &data), "n");
    assert_eq!(render("{{ len .Missing }}", &data), "0");
    assert_eq!(
        render(r#"{{ eq .Missing "" }} {{ eq .Missing 0 }}"#, &data),
        "true true"
    );
    assert_eq!(render(r#"{{ index .Missing "k" }}|{{ index .Map "zz" }}"#, &data), "|");
}

#[test]
fn missing_keys_render_no_value_in_go_map_mode() {
    let data = ctx();
    assert_eq!(render_go_map("{{.Missing}}", &data), "<no value>");
    assert_eq!(render_go_map("{{.Null}}", &data), "<no value>");
    assert_eq!(render_go_map(r#"{{index .Map "zz"}}"#, &data), "<no value>");
    assert_eq!(render_go_map("{{print .Missing}}", &data), "<nil>");
    assert_eq!(
        render_go_map("{{.Labels}}", &json!({"Labels": ["a", null]})),
        "[a <nil>]"
    );
}

#[test]
fn missing_keys_fail_in_error_mode() {
    let err = parse("\n{{.Missing}}")
        .unwrap()
        .render_with(&ctx(), MissingKey::Error)
        .unwrap_err();
    assert_eq!(err.to_string(), r#"line 2: map has no entry for key "Missing""#);
}

#[test]
fn fields_of_scalars_are_execution_errors() {
    let err = exec_error("{{.Name.Length}}", &ctx());
    assert_eq!(err.message(), "can't evaluate field Length in type string");
}

#[test]
fn trim_markers_eat_whitespace_including_newlines() {
    let data = json!({"A": "x"});
    assert_eq!(render("a  \n\t {{- .A -}} \n\n  b", &data), "axb");
    assert_eq!(render("a {{- .A }} b", &data), "ax b");
    assert_eq!(render("a {{ .A -}} b", &data), "a xb");
    assert_eq!(render("{{- .A -}}", &data), "x");
    assert_eq!(
        render("line1\n{{- if true }}\nline2\n{{- end }}\nline3", &data),
        "line1\nline2\nline3"
    );
    // A dash glued to a number is a negative number, not a trim marker.
    assert_eq!(render("a {{-3}} b", &data), "a -3 b");
    assert_eq!(render("a {{ 3 }} - {{ 4 }}", &data), "a 3 - 4");
}

#[test]
fn comments_are_dropped_and_may_trim() {
    let data = json!({});
    assert_eq!(render("a{{/* note */}}b", &data), "ab");
    assert_eq!(render("a {{- /* multi\nline */ -}} b", &data), "ab");
    assert_eq!(render("a {{/* x */ -}}\n b", &data), "a b");
}

#[test]
fn if_else_chains_use_go_truthiness() {
    let data = ctx();
    let cases = [
        ("Yes", true),
        ("No", false),
        ("Zero", false),
        ("Count", true),
        ("Empty", false),
        ("Name", true),
        ("Null", false),
        ("EmptyList", false),
        ("Labels", true),
        ("EmptyMap", false),
        ("Map", true),
        ("Missing", false),
    ];
    for (field, expected) in cases {
        let src = format!("{{{{if .{field}}}}}T{{{{else}}}}F{{{{end}}}}");
        assert_eq!(render(&src, &data), if expected { "T" } else { "F" }, "{field}");
    }
    let src = "{{if .No}}a{{else if .Zero}}b{{else if .Count}}c{{else}}d{{end}}";
    assert_eq!(render(src, &data), "c");
    assert_eq!(render("{{if .No}}a{{end}}", &data), "");
}

#[test]
fn range_visits_arrays_objects_and_integers() {
    let data = ctx();
    assert_eq!(render("{{range .Labels}}<{{.}}>{{end}}", &data), "<linux><x64>");
    assert_eq!(
        render("{{range $i, $v := .Labels}}{{$i}}={{$v}};{{end}}", &data),
        "0=linux;1=x64;"
    );
    assert_eq!(render("{{range $k, $v := .Map}}{{$k}}{{$v}}{{end}}", &data), "a1b2c3");
    assert_eq!(render("{{range $v := .Map}}{{$v}}{{end}}", &data), "123");
    assert_eq!(render("{{range .EmptyList}}x{{else}}none{{end}}", &data), "none");
    assert_eq!(render("{{range .Missing}}x{{else}}none{{end}}", &data), "none");
    assert_eq!(render("{{range .Null}}x{{else}}none{{end}}", &data), "none");
    assert_eq!(render("{{range 3}}{{.}}{{end}}", &data), "012");
    assert_eq!(
        render("{{range .Labels}}{{$.Name}}:{{.}} {{end}}", &data),
        "garm-abc:linux garm-abc:x64 "
    );
}

#[test]
fn range_supports_break_and_continue() {
    let data = json!({"N": [1, 2, 3, 4, 5]});
    let src = "{{range .N}}{{if eq . 2}}{{continue}}{{end}}{{if gt . 3}}{{break}}{{end}}{{.}}{{end}}";
    assert_eq!(render(src, &data), "13");
}

#[test]
fn range_over_a_string_is_an_error() {
    let err = exec_error("{{range .Name}}{{end}}", &ctx());
    assert_eq!(err.message(), "range can't iterate over garm-abc");
}

#[test]
fn with_rebinds_dot_and_has_else() {
    let data = ctx();
    assert_eq!(render("{{with .Nested.Inner}}{{.Value}}{{end}}", &data), "deep");
    assert_eq!(render("{{with .Empty}}x{{else}}empty{{end}}", &data), "empty");
    assert_eq!(
        render("{{with .Empty}}a{{else with .Name}}{{.}}{{else}}c{{end}}", &data),
        "garm-abc"
    );
    assert_eq!(render("{{with $x := .Count}}{{$x}}{{.}}{{end}}", &data), "33");
}

#[test]
fn variables_declare_assign_and_scope() {
    let data = ctx();
    assert_eq!(render("{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}", &data), "12");
    assert_eq!(
        render("{{$x := \"out\"}}{{if true}}{{$x := \"in\"}}{{$x}}{{end}}{{$x}}", &data),
        "inout"
    );
    assert_eq!(
        render("{{$x := 0}}{{range .Labels}}{{$x = .}}{{end}}{{$x}}", &data),
        "x64"
    );
    assert_eq!(render("{{$n := .Nested}}{{$n.Inner.Value}}", &data), "deep");
    let err = parse_error("{{if true}}{{$y := 1}}{{end}}{{$y}}");
    assert_eq!(err.to_string(), r#"line 1: undefined variable "$y""#);
}

#[test]
fn pipelines_pass_the_value_as_last_argument() {
    let data = ctx();
    assert_eq!(render(r#"{{ .Name | printf "%s!" }}"#, &data), "garm-abc!");
    assert_eq!(render(r#"{{ "abc" | len }}"#, &data), "3");
    assert_eq!(render(r#"{{ .Labels | len | printf "%03d" }}"#, &data), "002");
    assert_eq!(render("{{ (len .Labels) }}", &data), "2");
    assert_eq!(render(r#"{{ (index .Nested "Inner").Value }}"#, &data), "deep");
    assert_eq!(render(r#"{{ index .Nested.List 1 }}"#, &data), "20");
    assert_eq!(
        render(r#"{{ printf "%s-%d" .Name (len .Labels) }}"#, &data),
        "garm-abc-2"
    );
}

#[test]
fn and_or_short_circuit_and_return_the_deciding_value() {
    let data = ctx();
    assert_eq!(render(r#"{{ or .Empty .Missing "fallback" }}"#, &data), "fallback");
    assert_eq!(render(r#"{{ or .Name "fallback" }}"#, &data), "garm-abc");
    assert_eq!(render(r#"{{ and .Name .Count }}"#, &data), "3");
    assert_eq!(render(r#"{{ and .Name .Zero .Count }}"#, &data), "0");
    // The erroring index is never evaluated.
    assert_eq!(render(r#"{{ and .No (index .Labels 10) }}"#, &data), "false");
    assert_eq!(render(r#"{{ or .Yes (index .Labels 10) }}"#, &data), "true");
    assert_eq!(render(r#"{{ .Empty | or "piped" }}"#, &data), "piped");
    assert_eq!(render("{{ not .Yes }} {{ not .Empty }}", &data), "false true");
}

#[test]
fn comparisons_follow_go_rules() {
    let data = ctx();
    assert_eq!(render(r#"{{ eq .Name "garm-abc" }}"#, &data), "true");
    assert_eq!(render(r#"{{ eq .Count 1 2 3 }}"#, &data), "true");
    assert_eq!(render(r#"{{ ne .Count 3 }}"#, &data), "false");
    assert_eq!(
        render("{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 2 3 }}", &data),
        "true true false false"
    );
    assert_eq!(render(r#"{{ lt "a" "b" }}"#, &data), "true");
    assert_eq!(render("{{ eq .Null nil }}", &data), "true");
    assert_eq!(render("{{ eq .Ratio 2.5 }} {{ lt .Count 3.5 }}", &data), "true true");
    let err = exec_error(r#"{{ eq .Name 1 }}"#, &data);
    assert_eq!(err.message(), "error calling eq: incompatible types for comparison");
    let err = exec_error(r#"{{ lt .Yes .No }}"#, &data);
    assert_eq!(err.message(), "error calling lt: invalid type for comparison");
    let err = exec_error(r#"{{ eq .Labels .Labels }}"#, &data);
    assert_eq!(err.message(), "error calling eq: non-comparable types");
}

#[test]
fn index_len_and_slice() {
    let data = ctx();
    assert_eq!(render(r#"{{ index .Map "b" }}"#, &data), "2");
    assert_eq!(render(r#"{{ index .Nested "List" 0 }}"#, &data), "10");
    assert_eq!(render(r#"{{ index "abc" 1 }}"#, &data), "98");
    assert_eq!(render("{{ len .Map }} {{ len .Name }} {{ len \"é\" }}", &data), "3 8 2");
    assert_eq!(
        render(r#"{{ slice .Name 0 4 }} {{ slice .Labels 1 }}"#, &data),
        "garm [x64]"
    );
    let err = exec_error("{{ index .Labels 5 }}", &data);
    assert_eq!(err.message(), "error calling index: index out of range: 5");
    let err = exec_error("{{ len .Count }}", &data);
    assert_eq!(err.message(), "error calling len: len of type int");
}

#[test]
fn print_functions_match_fmt() {
    let data = ctx();
    assert_eq!(render(r#"{{ print "a" 1 2 "b" }}"#, &data), "a1 2b");
    assert_eq!(render(r#"{{ println "a" 1 }}"#, &data), "a 1\n");
    assert_eq!(
        render(r#"{{ printf "%v|%q|%5.1f" .Labels .Name .Ratio }}"#, &data),
        r#"[linux x64]|"garm-abc"|  2.5"#
    );
    assert_eq!(render(r#"{{ printf "%d" .Name }}"#, &data), "%!d(string=garm-abc)");
    assert_eq!(render("{{ print nil }}", &data), "<nil>");
}

#[test]
fn escaping_functions() {
    let data = ctx();
    assert_eq!(
        render("{{ html .Html }}", &data),
        "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(
        render("{{ .Html | urlquery }}", &data),
        "%3Ca+href%3D%22x%22%3E%26%3C%2Fa%3E"
    );
    assert_eq!(render(r#"{{ js "it's" }}"#, &data), "it\\'s");
}

#[test]
fn define_template_and_block() {
    let src = r#"{{define "item"}}<{{.}}>{{end}}{{range .Labels}}{{template "item" .}}{{end}}"#;
    assert_eq!(render(src, &ctx()), "<linux><x64>");
    let src = r#"{{block "greet" .Name}}hi {{.}}{{end}}!"#;
    assert_eq!(render(src, &ctx()), "hi garm-abc!");
    let template = parse(src).unwrap();
    assert_eq!(template.defined_templates(), vec!["greet"]);
    let err = exec_error(r#"{{template "nope"}}"#, &ctx());
    assert_eq!(err.message(), r#"no such template "nope""#);
}

#[test]
fn runaway_template_recursion_is_stopped() {
    let err = exec_error(
        r#"{{define "loop"}}{{template "loop" .}}{{end}}{{template "loop" .}}"#,
        &ctx(),
    );
    assert!(err.message().contains("maximum template depth"), "{err}");
}

#[test]
fn parse_errors_name_the_line() {
    let cases = [
        ("a\nb\n{{ foo }}", 3, r#"function "foo" not defined"#),
        ("{{ .A", 1, "unclosed action"),
        ("x\n{{end}}", 2, "unexpected {{end}}"),
        ("{{else}}", 1, "unexpected {{else}}"),
        ("{{if .A}}\nno end\n", 3, "unexpected EOF"),
        ("\n\n{{ $x }}", 3, r#"undefined variable "$x""#),
        ("{{ \"abc }}", 1, "unterminated quoted string"),
        ("{{/* x */ .A }}", 1, "comment ends before closing delimiter"),
        ("{{/* never closed", 1, "unclosed comment"),
        ("{{ .A | \"x\" }}", 1, "non executable command in pipeline stage 2"),
        ("\n{{break}}", 2, "{{break}} outside {{range}}"),
        ("{{ }}", 1, "missing value for command"),
        ("{{ if }}{{ end }}", 1, "missing value for if"),
        ("{{ .A# }}", 1, "bad character U+0023 '#'"),
        ("{{ .A # }}", 1, r##"unexpected "#" in operand"##),
        ("{{ (1 }}", 1, "unclosed left paren"),
        ("{{ 1) }}", 1, "unexpected right paren"),
        ("{{ 3x }}", 1, r#"bad number syntax: "3x""#),
        (
            "{{ range $a, $b, $c := . }}{{ end }}",
            1,
            "too many declarations in range",
        ),
        ("{{ if $a, $b := . }}{{ end }}", 1, "too many declarations in if"),
        ("{{ \"a\".B }}", 1, r#"unexpected . after term "\"a\"""#),
        ("{{if .A}}{{else}}{{else}}{{end}}", 1, "expected end; found {{else}}"),
        ("{{ end x }}", 1, r#"unexpected "x" in end"#),
    ];
    for (src, line, message) in cases {
        let err = parse_error(src);
        assert_eq!((err.line(), err.message()), (line, message), "source {src:?}");
        assert_eq!(err.to_string(), format!("line {line}: {message}"));
    }
}

#[test]
fn multi_line_actions_are_allowed() {
    let src = "{{ printf \"%s-%s\"\n  .Name\n  .Empty }}";
    assert_eq!(render(src, &ctx()), "garm-abc-");
}

#[test]
fn execution_errors_name_the_line() {
    let data = ctx();
    let err = exec_error("ok\n\n{{ index .Labels 9 }}", &data);
    assert_eq!(err.to_string(), "line 3: error calling index: index out of range: 9");
    let err = exec_error("{{ nil }}", &data);
    assert_eq!(err.message(), "nil is not a command");
    let err = exec_error("{{ not 1 2 }}", &data);
    assert_eq!(err.message(), "wrong number of args for not: want 1 got 2");
    let err = exec_error("{{ .Name 1 }}", &data);
    assert_eq!(err.message(), "Name is not a method but has arguments");
    let err = exec_error("{{ 1 2 }}", &data);
    assert_eq!(err.message(), "can't give argument to non-function 1");
}

#[test]
fn garm_style_install_snippet_renders() {
    let src = r#"#!/bin/bash
{{- if .UseJITConfig }}
JIT=1
{{- else }}
TOKEN_URL="{{ .MetadataURL }}/runner-registration-token/"
{{- end }}
{{- if .GitHubRunnerGroup }}
GROUP="{{ .GitHubRunnerGroup }}"
{{- end }}
LABELS="{{ .RunnerLabels }}"
DIR="{{ or (index .ExtraContext "RunnerDir") "/home/runner/actions-runner" }}"
"#;
    let data = json!({
        "UseJITConfig": false,
        "MetadataURL": "https://garm/api/v1/metadata",
        "GitHubRunnerGroup": "",
        "RunnerLabels": "a,b",
        "ExtraContext": {},
    });
    assert_eq!(
        render(src, &data),
        "#!/bin/bash\nTOKEN_URL=\"https://garm/api/v1/metadata/runner-registration-token/\"\nLABELS=\"a,b\"\nDIR=\"/home/runner/actions-runner\"\n"
    );
}

#[test]
fn if_pipeline_variables_are_visible_in_both_branches() {
    let data = ctx();
    assert_eq!(render("{{if $x := .Empty}}a{{else}}[{{$x}}]{{end}}", &data), "[]");
    assert_eq!(render("{{if $x := .Name}}{{$x}}{{end}}", &data), "garm-abc");
}

#[test]
fn trim_markers_work_on_else_and_end() {
    let src = "{{ if .No -}}\n  yes\n{{- else -}}\n  no\n{{- end }}!";
    assert_eq!(render(src, &ctx()), "no!");
}

#[test]
fn templates_parse_through_from_str() {
    let template: crate::Template = "{{ .Name }}".parse().unwrap();
    assert_eq!(template.render(&ctx()).unwrap(), "garm-abc");
}
