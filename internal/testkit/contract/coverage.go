package contract

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Pair is one documented (operation, status) of a spec.
type Pair struct {
	Spec, Operation, Status string
}

func (p Pair) String() string { return p.Spec + " " + p.Operation + " " + p.Status }

// Documented lists the pairs coverage asks for: every operation and every
// documented 2xx and 4xx status. 500 is exempt: tests cannot (and must not)
// make the services fail.
func Documented(specs ...*Spec) []Pair {
	var out []Pair
	for _, s := range specs {
		for _, item := range s.Doc.Paths.Map() {
			for _, op := range item.Operations() {
				for status := range op.Responses.Map() {
					if strings.HasPrefix(status, "2") || strings.HasPrefix(status, "4") {
						out = append(out, Pair{s.Name, op.OperationID, status})
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Exercised reads every record file in dir.
func Exercised(dir string) (map[Pair]int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("list coverage records in %s: %w", dir, err)
	}
	seen := map[Pair]int{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read coverage record %s: %w", name, err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 3 {
				seen[Pair{fields[0], fields[1], fields[2]}]++
			}
		}
		f.Close()
	}
	return seen, nil
}
