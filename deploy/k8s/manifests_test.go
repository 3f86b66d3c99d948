package k8s

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// rendered is one kustomization's output, every object decoded strictly.
type rendered struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	policies    map[string]*networkingv1.NetworkPolicy
	budgets     map[string]*policyv1.PodDisruptionBudget
	kinds       map[string]int
}

// render runs kustomize on dir and decodes each object into its k8s.io/api
// type with the API server's strict decoder: an unknown or duplicate field
// (a typo that kubectl apply would reject, or worse, drop) fails the test.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, networkingv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	r := rendered{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		policies: map[string]*networkingv1.NetworkPolicy{}, budgets: map[string]*policyv1.PodDisruptionBudget{}, kinds: map[string]int{}}
	for _, res := range resMap.Resources() {
		data, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, gvk, err := decoder.Decode(data, nil, nil)
		if err != nil {
			t.Fatalf("%s: %s %s does not decode strictly: %v", dir, res.GetKind(), res.GetName(), err)
		}
		r.kinds[gvk.Kind]++
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deployments[o.Name] = o
		case *corev1.Service:
			r.services[o.Name] = o
		case *networkingv1.NetworkPolicy:
			r.policies[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			r.budgets[o.Name] = o
		case *corev1.ServiceAccount, *corev1.Namespace:
		default:
			t.Errorf("%s: unexpected kind %s", dir, gvk.Kind)
		}
	}
	return r
}

func TestManifests(t *testing.T) {
	for _, dir := range []string{"base", "overlays/dev", "overlays/prod"} {
		t.Run(strings.ReplaceAll(dir, "/", "-"), func(t *testing.T) {
			r := render(t, dir)
			if r.kinds["Secret"] > 0 {
				t.Error("a Secret is rendered: secret values are never committed; the Deployments reference Secrets made out of band")
			}
			for _, name := range []string{"user-service", "property-service"} {
				d := r.deployments[name]
				if d == nil {
					t.Fatalf("no Deployment %s", name)
				}
				checkDeployment(t, d, dir != "base")
				checkBudget(t, r.budgets[name], d)
			}
			checkInternalPort(t, r)
			checkSettings(t, dir, r)
			checkInternalTransport(t, dir, r)
			if s := r.services["property-service-internal"]; s == nil || s.Spec.Ports[0].TargetPort != intstr.FromString("internal") {
				t.Error("the internal listener has no Service of its own targeting the internal port")
			}
			for _, s := range r.services {
				if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
					t.Errorf("Service %s is %s: exposure is the ingress controller's job", s.Name, s.Spec.Type)
				}
			}
		})
	}
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, overlay bool) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("%s: fewer than 2 replicas", d.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a Kubernetes API token it never uses", d.Name)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: not runAsNonRoot with a non-zero user", d.Name)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccomp profile is not RuntimeDefault", d.Name)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s/%s: root filesystem writable", d.Name, c.Name)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s/%s: privilege escalation allowed", d.Name, c.Name)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s/%s: capabilities not all dropped", d.Name, c.Name)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s/%s: readiness is not /readyz", d.Name, c.Name)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s/%s: liveness is not /healthz", d.Name, c.Name)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if c.Resources.Requests.Name(res, "").IsZero() || c.Resources.Limits.Name(res, "").IsZero() {
				t.Errorf("%s/%s: no %s request and limit", d.Name, c.Name, res)
			}
		}
		if overlay && (strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":")) {
			t.Errorf("%s/%s: image %q is not pinned to a tag", d.Name, c.Name, c.Image)
		}
		checkSecrets(t, d.Name, c)
	}
}

// checkSecrets: every credential comes from a Secret, none is a literal.
func checkSecrets(t *testing.T, deployment string, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		secret := strings.Contains(e.Name, "TOKEN") || strings.HasSuffix(e.Name, "DATABASE_URL") || e.Name == "REDIS_URL"
		if secret && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s/%s: %s is not taken from a Secret", deployment, c.Name, e.Name)
		}
		if strings.Contains(e.Value, "@") || strings.Contains(strings.ToLower(e.Value), "password") {
			t.Errorf("%s/%s: %s looks like it holds a credential: %q", deployment, c.Name, e.Name, e.Value)
		}
	}
	if deployment == "user-service" {
		key := false
		for _, e := range c.Env {
			key = key || e.Name == "JWT_SIGNING_KEY_FILE" && strings.HasPrefix(e.Value, "/var/run/secrets/")
		}
		if !key {
			t.Errorf("user-service: the signing key is not read from a mounted Secret")
		}
	}
}

func checkBudget(t *testing.T, b *policyv1.PodDisruptionBudget, d *appsv1.Deployment) {
	t.Helper()
	if b == nil {
		t.Errorf("%s: no PodDisruptionBudget", d.Name)
		return
	}
	if fmt.Sprint(b.Spec.Selector.MatchLabels) != fmt.Sprint(d.Spec.Selector.MatchLabels) {
		t.Errorf("%s: the PodDisruptionBudget selects %v, the Deployment %v", d.Name, b.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	if b.Spec.MinAvailable == nil || b.Spec.MinAvailable.IntValue() < 1 {
		t.Errorf("%s: the PodDisruptionBudget keeps no replica available", d.Name)
	}
}

// checkInternalPort: the property pods' internal port admits user-service
// pods of the same namespace only, and no rule opens every port.
func checkInternalPort(t *testing.T, r rendered) {
	t.Helper()
	property := r.deployments["property-service"]
	var internal int32
	for _, p := range property.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "internal" {
			internal = p.ContainerPort
		}
	}
	userLabels := r.deployments["user-service"].Spec.Template.Labels
	guarded := false
	for _, np := range r.policies {
		if fmt.Sprint(np.Spec.PodSelector.MatchLabels) != fmt.Sprint(property.Spec.Template.Labels) &&
			!matches(np.Spec.PodSelector.MatchLabels, property.Spec.Template.Labels) {
			continue
		}
		guarded = guarded || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s: an ingress rule without ports opens every port, the internal one too", np.Name)
			}
			for _, p := range rule.Ports {
				if p.Port == nil || *p.Port == intstr.FromString("internal") || *p.Port == intstr.FromInt32(internal) {
					ok := len(rule.From) > 0
					for _, from := range rule.From {
						ok = ok && from.NamespaceSelector == nil && from.IPBlock == nil && from.PodSelector != nil &&
							matches(from.PodSelector.MatchLabels, userLabels) &&
							from.PodSelector.MatchLabels["app.kubernetes.io/name"] == "user-service"
					}
					if !ok {
						t.Errorf("NetworkPolicy %s admits to the internal port more than user-service pods: %+v", np.Name, rule.From)
					}
				}
			}
		}
	}
	if !guarded {
		t.Error("no NetworkPolicy restricts ingress to the property service's pods")
	}
}

// matches reports whether selector selects labels.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// env is a container's environment by name.
func env(c corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

// checkSettings: what the threat model (docs/security.md) promises of a deployment
// (issue 25, items 10 and 13). In every overlay, the profiler is off and the
// services start (a plain-http JWKS only where the overlay allows it out
// loud). In prod: SPIFFE identities from the Workload API instead of a
// static token, the JWKS over TLS, X-Forwarded-For believed only from the
// ingress's narrow range on the public listeners and from nobody on the
// internal one.
func checkSettings(t *testing.T, dir string, r rendered) {
	t.Helper()
	for name, d := range r.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			e := env(c)
			if v := e["PPROF"].Value; v != "" && v != "off" {
				t.Errorf("%s: %s/%s serves the profiler (PPROF=%s) on its admin port, which a whole namespace reaches", dir, name, c.Name, v)
			}
			if url := e["JWT_JWKS_URL"].Value; name == "property-service" && dir != "base" &&
				!strings.HasPrefix(url, "https://") && e["JWT_JWKS_PLAIN_HTTP"].Value != "allow" {
				t.Errorf("%s: property-service fetches the JWKS from %q: plain http, which the service refuses to start with", dir, url)
			}
		}
	}
	if dir != "overlays/prod" {
		return
	}
	for name, d := range r.deployments {
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		e := env(c)
		if e["INTERNAL_AUTH"].Value != "spiffe" {
			t.Errorf("prod: %s runs INTERNAL_AUTH=%q, want spiffe", name, e["INTERNAL_AUTH"].Value)
		}
		for _, v := range []string{"INTERNAL_SERVICE_TOKEN", "INTERNAL_SERVICE_TOKENS", "PROPERTY_SERVICE_TOKEN", "USER_INTERNAL_TOKENS"} {
			if _, ok := e[v]; ok {
				t.Errorf("prod: %s still gets %s: spiffe mode has no static secret (and refuses one)", name, v)
			}
		}
		checkWorkloadAPI(t, name, pod, c, e["SPIFFE_ENDPOINT_SOCKET"].Value)
		for _, p := range prefixes(t, name, e["TRUSTED_PROXIES"].Value) {
			if p.Addr().Is4() && p.Bits() < 24 || !p.Addr().Is4() && p.Bits() < 120 {
				t.Errorf("prod: %s trusts X-Forwarded-For from %s: wider than an ingress controller's range, so other pods "+
					"in it choose their own client IP", name, p)
			}
		}
		if len(prefixes(t, name, e["TRUSTED_PROXIES"].Value)) == 0 {
			t.Errorf("prod: %s trusts no proxy: behind the ingress every client would share its address", name)
		}
		if v, ok := e["INTERNAL_TRUSTED_PROXIES"]; ok && v.Value != "" {
			t.Errorf("prod: %s trusts X-Forwarded-For on the internal listener (%s): its callers connect directly", name, v.Value)
		}
		switch name {
		case "property-service":
			if url := e["JWT_JWKS_URL"].Value; !strings.HasPrefix(url, "https://") || e["JWT_JWKS_PLAIN_HTTP"].Value != "" {
				t.Errorf("prod: the JWKS comes from %q (JWT_JWKS_PLAIN_HTTP=%q), want https with CA verification", url,
					e["JWT_JWKS_PLAIN_HTTP"].Value)
			}
		case "user-service":
			if url := e["PROPERTY_SERVICE_URL"].Value; !strings.HasPrefix(url, "https://") {
				t.Errorf("prod: the user service calls the property service at %q, want https:// (mutual TLS)", url)
			}
		}
	}
}

// checkWorkloadAPI: the SPIFFE Workload API socket comes from the SPIFFE CSI
// driver, mounted read-only where SPIFFE_ENDPOINT_SOCKET points.
func checkWorkloadAPI(t *testing.T, name string, pod corev1.PodSpec, c corev1.Container, socket string) {
	t.Helper()
	path, ok := strings.CutPrefix(socket, "unix://")
	if !ok || !strings.HasPrefix(path, "/") {
		t.Errorf("prod: %s SPIFFE_ENDPOINT_SOCKET=%q, want unix:///path to the agent's socket", name, socket)
		return
	}
	csi := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.CSI != nil && v.CSI.Driver == "csi.spiffe.io" && v.CSI.ReadOnly != nil && *v.CSI.ReadOnly {
			csi[v.Name] = true
		}
	}
	for _, m := range c.VolumeMounts {
		if csi[m.Name] && m.ReadOnly && strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return
		}
	}
	t.Errorf("prod: %s: no read-only csi.spiffe.io volume mounted where %s is", name, path)
}

func prefixes(t *testing.T, name, v string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			t.Errorf("%s: TRUSTED_PROXIES entry %q is not a CIDR", name, part)
			continue
		}
		out = append(out, p)
	}
	return out
}

// internalURLs are the variables holding each service's callee's URL.
var internalURLs = map[string]string{"user-service": "PROPERTY_SERVICE_URL", "property-service": "USER_SERVICE_INTERNAL_URL"}

// checkInternalTransport (issue 33): no internal hop is plain http between
// pods. spiffe mode is mutual TLS and refuses token mode's TLS files; token
// mode (the base, the dev overlay) calls https:// URLs, serves its internal
// listener with a certificate and verifies the other's against a CA, all
// read from a mounted Secret (the property service refuses to start with a
// plain-http user service off loopback: the exchange carries users' tokens).
func checkInternalTransport(t *testing.T, dir string, r rendered) {
	t.Helper()
	tlsVars := []string{"INTERNAL_TLS_CERT_FILE", "INTERNAL_TLS_KEY_FILE", "INTERNAL_TLS_CA_FILE"}
	for name, d := range r.deployments {
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		e := env(c)
		volumes := map[string]bool{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = true
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s: %s mounts volume %s, which the pod does not have", dir, name, m.Name)
			}
		}
		if url := e[internalURLs[name]].Value; !strings.HasPrefix(url, "https://") {
			t.Errorf("%s: %s calls the other service's internal listener at %q: plain http between pods", dir, name, url)
		}
		if mode := e["INTERNAL_AUTH"].Value; mode == "spiffe" {
			for _, v := range tlsVars {
				if _, ok := e[v]; ok {
					t.Errorf("%s: %s runs spiffe mode with %s, which it refuses (its TLS is the SVIDs')", dir, name, v)
				}
			}
			for _, v := range pod.Volumes {
				if v.Secret != nil && strings.Contains(v.Secret.SecretName, "internal-tls") {
					t.Errorf("%s: %s runs spiffe mode and still mounts Secret %s (a pod waits for a Secret nobody made)",
						dir, name, v.Secret.SecretName)
				}
			}
			continue
		} else if mode != "" && mode != "token" {
			t.Errorf("%s: %s runs INTERNAL_AUTH=%q", dir, name, mode)
			continue
		}
		secrets := map[string]bool{}
		for _, v := range pod.Volumes {
			secrets[v.Name] = v.Secret != nil
		}
		for _, v := range tlsVars {
			path := e[v].Value
			mounted := false
			for _, m := range c.VolumeMounts {
				mounted = mounted || secrets[m.Name] && m.ReadOnly && strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
			}
			if !mounted {
				t.Errorf("%s: %s %s=%q is not a file of a mounted Secret: token mode's internal listener needs TLS", dir, name, v, path)
			}
		}
	}
}
