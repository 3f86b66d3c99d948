// Package isolation holds the network test of "internal only" (make
// isolation-test, build tag isolation, needs root): the services in network
// namespaces of their own, the internal port fenced by the network.
package isolation
