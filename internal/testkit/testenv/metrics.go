package testenv

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
)

// Scrape returns the series a /metrics page holds (name and labels, no
// values), and the value of each.
func Scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := Client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d", url, resp.StatusCode)
	}
	series := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		series[line[:i]] = line[i+1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return series
}

// Sum adds up every series of the metric name (whatever its labels) on the
// /metrics page at url.
func Sum(t *testing.T, url, name string) float64 {
	t.Helper()
	var sum float64
	for series, value := range Scrape(t, url) {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%s: %s = %q: %v", url, series, value, err)
		}
		sum += v
	}
	return sum
}
