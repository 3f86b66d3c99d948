// Package k8s holds the Kubernetes manifests (a kustomize base and the dev
// and prod overlays) and their test, which renders them with kustomize's
// library and decodes every object strictly into k8s.io/api types. It is a
// module of its own so that kustomize and the Kubernetes API types, needed
// by this test only, stay out of the services' go.mod.
package k8s
