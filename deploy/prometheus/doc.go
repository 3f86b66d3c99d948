// Package prometheus holds the tests of the shipped Prometheus files: the
// alert and recording rules under promtool (make test) and a real
// Prometheus scraping both services (make prometheus, build tag prometheus).
package prometheus
