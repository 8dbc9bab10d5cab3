// Command crd-bounds adds length bounds to fields of the generated SidecarSet CRD that markers cannot reach.
//
// The sidecar containers embed corev1.Container, whose name has no maxLength in its generated schema. The API
// server estimates the cost of each CEL rule from such bounds, and without one it refuses the rules that
// compare container names (the uniqueness rule across containers and initContainers) as too expensive. A
// container name is a DNS label, at most 63 characters, so the bound only states what the pod API enforces.
//
// It runs after controller-gen in `make manifests`, edits the file in place, and is idempotent.
//
//	go run ./hack/crd-bounds config/crd/bases/apps.sidecarset.io_sidecarsets.yaml
package main

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// bound is a keyword to set on the schema at a path of property names below a version's openAPIV3Schema.
type bound struct {
	path    []string
	keyword string
	value   string
}

var bounds = []bound{
	{[]string{"spec", "containers", "[]", "name"}, "maxLength", "63"},
	{[]string{"spec", "initContainers", "[]", "name"}, "maxLength", "63"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crd-bounds <crd.yaml>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "crd-bounds:", err)
		os.Exit(1)
	}
}

func run(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	versions := lookup(doc.Content[0], "spec", "versions")
	if versions == nil || versions.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s: no spec.versions", file)
	}
	for _, v := range versions.Content {
		root := lookup(v, "schema", "openAPIV3Schema")
		if root == nil {
			return fmt.Errorf("%s: a version has no openAPIV3Schema", file)
		}
		for _, b := range bounds {
			schema := root
			for _, p := range b.path {
				if p == "[]" {
					schema = lookup(schema, "items")
				} else {
					schema = lookup(schema, "properties", p)
				}
				if schema == nil {
					return fmt.Errorf("%s: no schema at %v: the API types changed, update hack/crd-bounds", file, b.path)
				}
			}
			setScalar(schema, b.keyword, b.value)
		}
	}
	var out bytes.Buffer
	out.WriteString("---\n")
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc.Content[0]); err != nil {
		return err
	}
	return os.WriteFile(file, out.Bytes(), 0o644)
}

// lookup follows mapping keys from node; nil when one is missing.
func lookup(node *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if node == nil || node.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == k {
				next = node.Content[i+1]
				break
			}
		}
		node = next
	}
	return node
}

// setScalar sets key to an integer value in a mapping, keeping the mapping's keys sorted as controller-gen
// writes them.
func setScalar(m *yaml.Node, key, value string) {
	if existing := lookup(m, key); existing != nil {
		existing.Value = value
		return
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: value}
	i := 0
	for i < len(m.Content) && m.Content[i].Value < key {
		i += 2
	}
	m.Content = append(m.Content[:i], append([]*yaml.Node{k, v}, m.Content[i:]...)...)
}
