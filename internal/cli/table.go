package cli

import (
	"io"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Table is rows of cells under a header, printed in aligned columns as kubectl prints them: upper-case
// headers, three spaces between columns, <none> for an empty cell.
type Table struct {
	Header []string
	Rows   [][]string
	// Indent prefixes every line.
	Indent string
}

// Write prints the table.
func (t Table) Write(w io.Writer) error {
	// kubectl's tab writer: minimum width 6, tab width 4, padding 3, padded with spaces.
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	line := func(cells []string) {
		out := make([]string, len(cells))
		for i, c := range cells {
			if c == "" {
				c = "<none>"
			}
			// A tab or a newline in a cell would break the columns.
			out[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
		}
		_, _ = io.WriteString(tw, t.Indent+strings.Join(out, "\t")+"\n")
	}
	line(t.Header)
	for _, r := range t.Rows {
		line(r)
	}
	return tw.Flush()
}

// Age is how long ago t was, as kubectl's AGE column says it (3m20s, 5h, 12d); <unknown> for no time.
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// orNone is s, or <none> when it is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
