// Command apidocs writes the API reference (docs/api.md) from the Go types of api/v1alpha1: each type's
// fields with their JSON name, type, default, validation and doc comment, as kubectl explain shows them.
// make generate runs it, and make verify fails when docs/api.md is stale.
//
//	go run ./hack/apidocs api/v1alpha1 docs/api.md
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: apidocs <api package dir> <output.md>")
		os.Exit(2)
	}
	out, err := render(os.Args[1])
	if err == nil {
		err = os.WriteFile(os.Args[2], []byte(out), 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "apidocs: %v\n", err)
		os.Exit(1)
	}
}

// typeDoc is one documented type of the API package.
type typeDoc struct {
	name   string
	doc    string
	fields []fieldDoc
	enum   []string // the values of a string type, from its constants
}

type fieldDoc struct {
	json, goType, doc string
	markers           []string
	inline            bool
}

// The order the reference follows: the resource first, then its parts as a reader meets them.
var order = []string{"SidecarSet", "SidecarSetSpec", "SidecarContainer", "TransferEnvVar", "PodMetadataPatch",
	"InjectionStrategy", "UpdateStrategy", "UpdatePriorityStrategy", "UpdatePriorityWeightTerm", "UpdateScatterTerm",
	"FailurePolicy", "RecreateStrategy", "SidecarSetStatus", "RevisionPodCount", "SidecarResources", "ResourceShare"}

var markerRe = regexp.MustCompile(`^\+kubebuilder:(default|validation:[A-Za-z]+)[=:](.*)$`)

func render(dir string) (string, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	types := map[string]*typeDoc{}
	enums := map[string][]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(filepath.Base(f), "zz_") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			return "", err
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					doc := gd.Doc
					if s.Doc != nil {
						doc = s.Doc
					}
					td := &typeDoc{name: s.Name.Name, doc: text(doc)}
					if st, ok := s.Type.(*ast.StructType); ok {
						for _, f := range st.Fields.List {
							td.fields = append(td.fields, field(f))
						}
					}
					types[td.name] = td
				case *ast.ValueSpec:
					if id, ok := s.Type.(*ast.Ident); ok && gd.Tok == token.CONST {
						for _, v := range s.Values {
							if lit, ok := v.(*ast.BasicLit); ok {
								enums[id.Name] = append(enums[id.Name], lit.Value)
							}
						}
					}
				}
			}
		}
	}

	var b strings.Builder
	b.WriteString("# API reference: apps.sidecarset.io/v1alpha1\n\n")
	b.WriteString("Generated from the Go types in `api/v1alpha1` by `make generate` (`hack/apidocs`); do not edit.\n")
	b.WriteString("`kubectl explain sidecarsets.spec` shows the same documentation from the cluster.\n\n")
	for _, name := range order {
		fmt.Fprintf(&b, "- [%s](#%s)\n", name, strings.ToLower(name))
	}
	b.WriteString("\n")
	for _, name := range order {
		td, ok := types[name]
		if !ok {
			return "", fmt.Errorf("type %s is not in %s", name, dir)
		}
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", name, td.doc)
		if len(td.fields) == 0 {
			continue
		}
		b.WriteString("| Field | Type | Description |\n|---|---|---|\n")
		for _, f := range td.fields {
			if f.json == "" || f.json == "-" {
				if f.inline {
					fmt.Fprintf(&b, "| _(inline)_ | %s | %s |\n", f.goType, cell(f.doc))
				}
				continue
			}
			desc := f.doc
			if vals := enums[strings.TrimPrefix(strings.TrimPrefix(f.goType, "[]"), "*")]; len(vals) > 0 {
				desc += " One of: " + strings.Join(vals, ", ") + "."
			}
			if len(f.markers) > 0 {
				desc += " (" + strings.Join(f.markers, "; ") + ")"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.json, typeLink(f.goType, types), cell(desc))
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

func field(f *ast.Field) fieldDoc {
	fd := fieldDoc{goType: exprString(f.Type)}
	if f.Tag != nil {
		tag := strings.Trim(f.Tag.Value, "`")
		if i := strings.Index(tag, `json:"`); i >= 0 {
			rest := tag[i+6:]
			rest = rest[:strings.IndexByte(rest, '"')]
			name, opts, _ := strings.Cut(rest, ",")
			fd.json = name
			fd.inline = strings.Contains(opts, "inline")
		}
	}
	if f.Doc != nil {
		for _, c := range f.Doc.List {
			line := strings.TrimSpace(strings.TrimPrefix(c.Text, "//"))
			// CEL rules are left out: the field's doc says what they refuse, in words.
			if m := markerRe.FindStringSubmatch(line); m != nil && m[1] != "validation:XValidation" {
				fd.markers = append(fd.markers, markerName(m[1])+": "+strings.TrimSpace(m[2]))
			}
		}
		fd.doc = text(f.Doc)
	}
	return fd
}

func markerName(m string) string {
	if m == "default" {
		return "default"
	}
	return strings.ToLower(strings.TrimPrefix(m, "validation:")[:1]) + strings.TrimPrefix(m, "validation:")[1:]
}

// text is a doc comment without its markers, joined into one paragraph.
func text(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(cg.Text(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "+") {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, " ")
}

func exprString(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return "*" + exprString(t.X)
	case *ast.ArrayType:
		return "[]" + exprString(t.Elt)
	case *ast.MapType:
		return "map[" + exprString(t.Key) + "]" + exprString(t.Value)
	case *ast.SelectorExpr:
		return exprString(t.X) + "." + t.Sel.Name
	}
	return fmt.Sprintf("%T", e)
}

// typeLink links a type of this package to its section, and names a Kubernetes type by its package.
func typeLink(goType string, types map[string]*typeDoc) string {
	base := strings.TrimLeft(goType, "[]*")
	prefix := goType[:len(goType)-len(base)]
	if strings.HasPrefix(base, "map[") {
		return "`" + goType + "`"
	}
	if td, ok := types[base]; ok && slices.Contains(order, td.name) {
		return fmt.Sprintf("%s[%s](#%s)", strings.ReplaceAll(prefix, "*", ""), base, strings.ToLower(base))
	}
	return "`" + strings.ReplaceAll(goType, "*", "") + "`"
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
