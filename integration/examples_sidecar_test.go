package integration

// The sidecar: examples/sidecar/{Dockerfile,compose.yaml,deployment.yaml,kustomization.yaml,Caddyfile}.

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/buildinfo"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"gopkg.in/yaml.v3"
)

// healthPath is the sidecar's health-check route, answered without credentials.
const healthPath = "/healthz"

// dockerInstruction is one instruction of a Dockerfile, its continuation lines joined.
type dockerInstruction struct {
	Stage string // the stage it belongs to: its name (FROM ... AS name), or its index
	Cmd   string // FROM, RUN, COPY..., upper case
	Args  string
	Line  int
}

// parseDockerfile reads a Dockerfile's instructions: comment lines are dropped (also inside a
// continued instruction, as Docker does), lines ending with a backslash continue on the next.
func parseDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	start, stage, stages := 0, "", 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		continued := strings.HasSuffix(trimmed, "\\")
		cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
		if continued {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		in := dockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.Join(strings.Fields(args), " "), Line: start}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			stage = strconv.Itoa(stages)
			if len(f) == 3 && strings.EqualFold(f[1], "as") {
				stage = f[2]
			}
			stages++
		}
		in.Stage = stage
		out = append(out, in)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends inside a continued instruction", path)
	}
	return out
}

// sidecarImage is what the tests need to know of the sidecar's Dockerfile.
type sidecarImage struct {
	args        map[string]string // ARG defaults
	buildCmd    string            // the build stage's `go build` RUN, its --mount options removed
	output      string            // the -o of buildCmd
	from        string            // the source of the COPY --from=build of the final stage
	binary      string            // its destination
	caddyfile   string            // where the COPY of examples/sidecar/Caddyfile puts it
	copied      map[string]string // the other files of examples/sidecar the final stage copies: name -> destination
	env         map[string]string // ENV of the final stage
	user        string
	healthcheck string
	command     []string // ENTRYPOINT then CMD
}

// readSidecarImage reads examples/sidecar/Dockerfile.
func readSidecarImage(t *testing.T) sidecarImage {
	t.Helper()
	in := parseDockerfile(t, examplePath("sidecar", "Dockerfile"))
	img := sidecarImage{args: map[string]string{}, env: map[string]string{}, copied: map[string]string{}}
	final := in[len(in)-1].Stage
	var jsonForm = func(i dockerInstruction) []string {
		var v []string
		if err := json.Unmarshal([]byte(i.Args), &v); err != nil {
			t.Fatalf("Dockerfile:%d: %s is not in JSON form: %v", i.Line, i.Cmd, err)
		}
		return v
	}
	var entrypoint, cmd []string
	for _, i := range in {
		switch {
		case i.Cmd == "ARG" && i.Stage == "":
			name, value, _ := strings.Cut(i.Args, "=")
			img.args[name] = value
		case i.Cmd == "RUN" && i.Stage == "build" && strings.Contains(i.Args, "go build"):
			if img.buildCmd != "" {
				t.Fatalf("Dockerfile:%d: a second go build in the build stage", i.Line)
			}
			f := strings.Fields(i.Args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			img.buildCmd = strings.Join(f, " ")
			m := regexp.MustCompile(`(?:^|\s)-o\s+(\S+)`).FindStringSubmatch(img.buildCmd)
			if m == nil {
				t.Fatalf("Dockerfile:%d: the go build names no -o output", i.Line)
			}
			img.output = m[1]
		case i.Stage != final:
		case i.Cmd == "COPY" && strings.HasPrefix(i.Args, "--from=build "):
			f := strings.Fields(i.Args)
			img.from, img.binary = f[1], f[2]
		case i.Cmd == "COPY" && strings.HasPrefix(i.Args, "examples/sidecar/Caddyfile "):
			img.caddyfile = strings.Fields(i.Args)[1]
		case i.Cmd == "COPY" && strings.HasPrefix(i.Args, "examples/sidecar/"):
			f := strings.Fields(i.Args)
			dest := f[len(f)-1]
			for _, src := range f[:len(f)-1] {
				if strings.HasSuffix(dest, "/") {
					img.copied[filepath.Base(src)] = dest + filepath.Base(src)
				} else {
					img.copied[filepath.Base(src)] = dest
				}
			}
		case i.Cmd == "ENV":
			for _, kv := range strings.Fields(i.Args) {
				k, v, _ := strings.Cut(kv, "=")
				img.env[k] = v
			}
		case i.Cmd == "USER":
			img.user = i.Args
		case i.Cmd == "HEALTHCHECK":
			img.healthcheck = i.Args
		case i.Cmd == "ENTRYPOINT":
			entrypoint = jsonForm(i)
		case i.Cmd == "CMD":
			cmd = jsonForm(i)
		}
	}
	img.command = append(entrypoint, cmd...)
	if img.buildCmd == "" {
		t.Fatal("the Dockerfile's build stage has no go build")
	}
	return img
}

// configPath is the --config of the image's command.
func (img sidecarImage) configPath() string {
	if i := slices.Index(img.command, "--config"); i >= 0 && i+1 < len(img.command) {
		return img.command[i+1]
	}
	return ""
}

// composeService is a service of compose.yaml, the keys it uses.
type composeService struct {
	Image   string
	Command []string
	Ports   []string
	Build   struct {
		Context    string
		Dockerfile string
	}
	NetworkMode string `yaml:"network_mode"`
	Environment map[string]string
	Secrets     []string
	Volumes     []string
	Tmpfs       []string
	ReadOnly    bool `yaml:"read_only"`
	User        string
	CapDrop     []string `yaml:"cap_drop"`
	SecurityOpt []string `yaml:"security_opt"`
	DependsOn   []string `yaml:"depends_on"`
	Restart     string
}

// composeFile is compose.yaml, the keys it uses (unknown keys are refused: a misspelt key would be
// ignored by Compose). x-app and x-gateway are the anchors the replicas' services are made of.
type composeFile struct {
	App      composeService `yaml:"x-app"`
	Gateway  composeService `yaml:"x-gateway"`
	Services map[string]composeService
	Secrets  map[string]struct {
		Environment string
		File        string
	}
	Volumes map[string]any
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	data, err := os.ReadFile(examplePath("sidecar", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decoding compose.yaml: %v", err)
	}
	return c
}

// gateways are the names of the services built from the Dockerfile: the gateway replicas, in order.
func (c composeFile) gateways() []string {
	var names []string
	for name, s := range c.Services {
		if s.Build.Dockerfile != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// composeVariable matches Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME:?message}.
var composeVariable = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

// sidecarSettings are what a user exports before `docker compose up`: their pool, app client and roles.
func sidecarSettings(endpoint, userPoolID, clientID string) map[string]string {
	return map[string]string{
		"COGNITO_IDP_ENDPOINT": endpoint,
		"COGNITO_USER_POOL_ID": userPoolID,
		"COGNITO_CLIENT_ID":    clientID,
		"IDENTITY_POOL_ID":     sidecarPoolID,
		"USER_ROLE_ARN":        sidecarUserRole,
		"GUEST_ROLE_ARN":       sidecarGuestRole,
	}
}

const (
	sidecarPoolID    = "us-east-1:0c6f1d2e-8a3b-4c5d-9e7f-1a2b3c4d5e6f"
	sidecarUserRole  = "arn:aws:iam::123456789012:role/sidecar-user"
	sidecarGuestRole = "arn:aws:iam::123456789012:role/sidecar-guest"
)

// sidecarKeySecretFile is where the sidecar's Caddyfile reads the key secret by default: where the
// compose secret and the Kubernetes Secret are mounted.
func sidecarKeySecretFile(t *testing.T) string {
	t.Helper()
	caddyfile, err := os.ReadFile(examplePath("sidecar", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`key_secret \{file\.\{\$KEY_SECRET_FILE:(/[^}]+)\}\}`).FindSubmatch(caddyfile)
	if m == nil {
		t.Fatal("the sidecar's Caddyfile does not read key_secret from {file.{$KEY_SECRET_FILE:<path>}}")
	}
	return string(m[1])
}

// sidecarKeySecret writes a fresh key secret to a file, as the orchestrator mounts it, and returns the
// setting that points the sidecar's Caddyfile at it. Replicas given the same setting share the secret.
func sidecarKeySecret(t *testing.T) string {
	t.Helper()
	secret := make([]byte, 48)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cognito_key_secret")
	// As `openssl rand -base64 48` writes it: base64, then a newline, which the file placeholder drops.
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	return "KEY_SECRET_FILE=" + path
}

// sidecarComposeEnv is the gateways' environment in compose.yaml, interpolated as Compose does with
// shell (the user's exported variables). Every replica has the same.
func sidecarComposeEnv(t *testing.T, shell map[string]string) []string {
	t.Helper()
	c := readCompose(t)
	gateways := c.gateways()
	if len(gateways) == 0 {
		t.Fatal("compose.yaml builds no gateway from the Dockerfile")
	}
	for _, name := range gateways[1:] {
		if !maps.Equal(c.Services[name].Environment, c.Services[gateways[0]].Environment) {
			t.Fatalf("compose.yaml: %s and %s have different environments", gateways[0], name)
		}
	}
	var env []string
	for name, value := range c.Services[gateways[0]].Environment {
		var missing []string
		value = composeVariable.ReplaceAllStringFunc(value, func(ref string) string {
			m := composeVariable.FindStringSubmatch(ref)
			if v, ok := shell[m[1]]; ok {
				return v
			}
			if m[2] == ":?" || m[2] == "" {
				missing = append(missing, m[1])
			}
			return m[3]
		})
		if len(missing) > 0 {
			t.Fatalf("compose.yaml: %s needs %v, which the test does not set", name, missing)
		}
		env = append(env, name+"="+value)
	}
	slices.Sort(env)
	return env
}

// k8sObject is what the tests read of a Kubernetes object of deployment.yaml: its kind and name, the
// rest decoded by kind.
type k8sObject struct {
	Kind     string
	Metadata struct{ Name string }
}

// deploymentManifest is the part of the Deployment of deployment.yaml the tests check.
type deploymentManifest struct {
	Spec struct {
		Replicas int
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		}
		Template struct {
			Metadata struct{ Labels map[string]string }
			Spec     podSpec
		}
	}
}

// serviceManifest is the part of the Service of deployment.yaml the tests check.
type serviceManifest struct {
	Spec struct {
		Selector map[string]string
		Ports    []struct {
			Name       string
			Port       int
			TargetPort string `yaml:"targetPort"`
		}
	}
}

// podSpec is the part of the Deployment's pod template the tests check.
type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []podContainer
	Volumes    []struct {
		Name      string
		ConfigMap *struct{ Name string } `yaml:"configMap"`
		PVC       *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		EmptyDir *struct{ Medium string } `yaml:"emptyDir"`
		Secret   *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode *int   `yaml:"defaultMode"`
		}
	}
}

type podContainer struct {
	Name    string
	Image   string
	Command []string
	Ports   []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	Env []struct {
		Name, Value string
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
	LivenessProbe   *podProbe `yaml:"livenessProbe"`
	ReadinessProbe  *podProbe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct{ Drop []string }
	} `yaml:"securityContext"`
}

type podProbe struct {
	HTTPGet *struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

// readDeployment returns the Deployment and the Service of deployment.yaml, failing on any other object.
func readDeployment(t *testing.T) (deploymentManifest, serviceManifest) {
	t.Helper()
	data, err := os.ReadFile(examplePath("sidecar", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var deployments []deploymentManifest
	var services []serviceManifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding deployment.yaml: %v", err)
		}
		var obj k8sObject
		if err := node.Decode(&obj); err != nil {
			t.Fatalf("decoding deployment.yaml: %v", err)
		}
		switch obj.Kind {
		case "Deployment":
			var d deploymentManifest
			err = node.Decode(&d)
			deployments = append(deployments, d)
		case "Service":
			var s serviceManifest
			err = node.Decode(&s)
			services = append(services, s)
		default:
			t.Errorf("deployment.yaml has a %s, which this test does not check", obj.Kind)
		}
		if err != nil {
			t.Fatalf("decoding the %s of deployment.yaml: %v", obj.Kind, err)
		}
	}
	if len(deployments) != 1 || len(services) != 1 {
		t.Fatalf("deployment.yaml has %d deployments and %d services, want one of each", len(deployments), len(services))
	}
	return deployments[0], services[0]
}

// container returns the pod's container of that name.
func (p podSpec) container(t *testing.T, name string) podContainer {
	t.Helper()
	for _, c := range p.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("deployment.yaml has no container %s", name)
	return podContainer{}
}

// sidecarPodEnv is the gateway container's environment in deployment.yaml.
func sidecarPodEnv(t *testing.T) []string {
	t.Helper()
	d, _ := readDeployment(t)
	var env []string
	for _, e := range d.Spec.Template.Spec.container(t, "gateway").Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// envValue is the value of name in env ("NAME=value"), the last one winning.
func envValue(env []string, name string) (string, bool) {
	value, found := "", false
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			value, found = v, true
		}
	}
	return value, found
}

// listenArg is the address after --listen in a command line.
func listenArg(command []string) string {
	if i := slices.Index(command, "--listen"); i >= 0 && i+1 < len(command) {
		return command[i+1]
	}
	return ""
}

// TestSidecarFilesAgree checks that the Dockerfile, the compose file, the pod and the Caddyfile they mount
// fit together: paths, ports, users, variables, health checks, and the hardening each promises.
func TestSidecarFilesAgree(t *testing.T) {
	t.Parallel()
	img := readSidecarImage(t)
	caddyfile, err := os.ReadFile(examplePath("sidecar", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	_, required := caddyfileVars(string(caddyfile))
	dataDir := img.env["XDG_DATA_HOME"]
	// The role policy files, which the Caddyfile reads from POLICY_DIR, /etc/caddy by default.
	var policies []string
	for _, m := range regexp.MustCompile(`\{\$POLICY_DIR:([^}]*)\}/(\S+)`).FindAllStringSubmatch(string(caddyfile), -1) {
		if m[1] != filepath.Dir(img.configPath()) {
			t.Errorf("POLICY_DIR defaults to %s, want the Caddyfile's folder %s", m[1], filepath.Dir(img.configPath()))
		}
		policies = append(policies, m[2])
	}

	t.Run("Dockerfile", func(t *testing.T) {
		goMod, err := os.ReadFile(filepath.Join(harness.root, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
		if goLine == nil || img.args["GO_VERSION"] != string(goLine[1]) {
			t.Errorf("GO_VERSION %q, want go.mod's %s", img.args["GO_VERSION"], goLine)
		}
		for _, want := range []string{"CGO_ENABLED=0 ", " -trimpath ", " ./cmd/caddy"} {
			if !strings.Contains(" "+img.buildCmd+" ", want) {
				t.Errorf("the build %q lacks %q", img.buildCmd, strings.TrimSpace(want))
			}
		}
		if img.from != img.output || img.binary == "" || img.command[0] != filepath.Base(img.binary) {
			t.Errorf("the binary is built at %s, copied from %s to %s, run as %v", img.output, img.from, img.binary, img.command)
		}
		if uid, _, _ := strings.Cut(img.user, ":"); uid == "" || uid == "0" || uid == "root" {
			t.Errorf("USER %q, want a dedicated non-root user", img.user)
		}
		if !strings.Contains(img.healthcheck, "127.0.0.1:${PORT}"+healthPath) || img.env["PORT"] == "" {
			t.Errorf("HEALTHCHECK %q, want a check of %s on PORT (ENV PORT %q)", img.healthcheck, healthPath, img.env["PORT"])
		}
		if img.caddyfile == "" || img.configPath() != img.caddyfile || dataDir == "" {
			t.Errorf("the Caddyfile is copied to %q, the command reads %q, storage in %q", img.caddyfile, img.configPath(), dataDir)
		}
	})

	t.Run("Caddyfile", func(t *testing.T) {
		// The health check is answered before any authorization; TestSidecarEndToEnd calls it.
		if !regexp.MustCompile(`(?m)^\thandle ` + healthPath + ` \{\n\t\trespond `).Match(caddyfile) {
			t.Errorf("the sidecar's Caddyfile has no `handle %s { respond ... }`", healthPath)
		}
		if !regexp.MustCompile(`(?m)^\tadmin off$`).Match(caddyfile) {
			t.Error("the sidecar's Caddyfile leaves the admin API on, where the app container could reach it")
		}
		// Every role the identity pool issues has a policy, so no signed request is let through by
		// default (see TestSidecarEndToEnd), and the policies are beside the Caddyfile in the image.
		for _, role := range []string{"{$GUEST_ROLE_ARN}", "{$USER_ROLE_ARN}"} {
			if !strings.Contains(string(caddyfile), "role_policy "+role+" ") {
				t.Errorf("the sidecar's Caddyfile has no role_policy for %s", role)
			}
		}
		if len(policies) != 2 {
			t.Errorf("the sidecar's Caddyfile names policy files %v, want the guest's and the user's", policies)
		}
		for _, name := range policies {
			if img.copied[name] != filepath.Join(filepath.Dir(img.configPath()), name) {
				t.Errorf("the Dockerfile copies %s to %q, want it beside the Caddyfile, where POLICY_DIR's default is", name, img.copied[name])
			}
		}
		if strings.Contains(string(caddyfile), "TODO") {
			t.Error("the sidecar's Caddyfile has a TODO")
		}
	})

	// The key secret: a file, where the orchestrator mounts its secret.
	secretFile := sidecarKeySecretFile(t)

	t.Run("compose.yaml", func(t *testing.T) {
		c := readCompose(t)
		gateways := c.gateways()
		// The fleet: replicas that share nothing but the key secret.
		if len(gateways) < 3 {
			t.Fatalf("compose.yaml has gateways %v, want three replicas", gateways)
		}
		if len(c.Volumes) > 0 {
			t.Errorf("compose.yaml declares volumes %v: the replicas need no shared storage", slices.Collect(maps.Keys(c.Volumes)))
		}
		if dir, name := filepath.Split(secretFile); dir != "/run/secrets/" || c.Secrets[name].Environment != "COGNITO_KEY_SECRET" {
			t.Errorf("compose.yaml's secrets %+v: want %s from the shell's COGNITO_KEY_SECRET, mounted at %s", c.Secrets, name, secretFile)
		}
		lb := c.Services["lb"]
		var backends []string
		for i, f := range lb.Command {
			if f == "--to" && i+1 < len(lb.Command) {
				backends = append(backends, lb.Command[i+1])
			}
		}
		for _, name := range gateways {
			gw := c.Services[name]
			dockerfile := filepath.Join(examplePath("sidecar"), gw.Build.Context, gw.Build.Dockerfile)
			if dockerfile != examplePath("sidecar", "Dockerfile") {
				t.Errorf("%s builds %s, want examples/sidecar/Dockerfile", name, dockerfile)
			}
			for _, v := range required {
				if _, ok := gw.Environment[v]; !ok {
					t.Errorf("%s's environment lacks %s, which the Caddyfile needs", name, v)
				}
			}
			if !slices.Contains(gw.Volumes, "./Caddyfile:"+img.configPath()+":ro") {
				t.Errorf("%s's volumes %v do not mount ./Caddyfile read-only at %s", name, gw.Volumes, img.configPath())
			}
			for _, p := range policies {
				if at := filepath.Join(filepath.Dir(img.configPath()), p); !slices.Contains(gw.Volumes, "./"+p+":"+at+":ro") {
					t.Errorf("%s's volumes %v do not mount ./%s read-only at %s", name, gw.Volumes, p, at)
				}
			}
			if !slices.Contains(gw.Secrets, filepath.Base(secretFile)) {
				t.Errorf("%s's secrets %v lack %s, where the Caddyfile reads the key secret", name, gw.Secrets, filepath.Base(secretFile))
			}
			// Caddy writes to its storage directory: scratch space on the read-only root.
			if !slices.Contains(gw.Tmpfs, dataDir) {
				t.Errorf("%s's tmpfs %v lacks %s, Caddy's storage", name, gw.Tmpfs, dataDir)
			}
			if !gw.ReadOnly || gw.User != img.user || !slices.Equal(gw.CapDrop, []string{"ALL"}) || !slices.Contains(gw.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("%s read_only %v, user %q, cap_drop %v, security_opt %v; want read-only, the image's user %s, ALL dropped, no-new-privileges",
					name, gw.ReadOnly, gw.User, gw.CapDrop, gw.SecurityOpt, img.user)
			}
			// Each gateway shares its app's network namespace: the app listens on loopback only.
			appName, _ := strings.CutPrefix(gw.NetworkMode, "service:")
			app, ok := c.Services[appName]
			if !ok || listenArg(app.Command) != gw.Environment["UPSTREAM"] || !strings.HasPrefix(gw.Environment["UPSTREAM"], "127.0.0.1:") {
				t.Errorf("%s: network_mode %q, app listening on %q, UPSTREAM %q; want an app's namespace and its loopback address",
					name, gw.NetworkMode, listenArg(app.Command), gw.Environment["UPSTREAM"])
			}
			if len(app.Ports) > 0 {
				t.Errorf("%s publishes %v: only the load balancer should", appName, app.Ports)
			}
			if want := appName + ":" + gw.Environment["PORT"]; !slices.Contains(backends, want) {
				t.Errorf("the load balancer sends to %v, not to %s (%s)", backends, want, name)
			}
		}
		if len(backends) != len(gateways) {
			t.Errorf("the load balancer sends to %v, want the %d gateways", backends, len(gateways))
		}
		port := c.Services[gateways[0]].Environment["PORT"]
		if !slices.Contains(lb.Ports, port+":"+port) || !slices.Contains(lb.Command, ":"+port) {
			t.Errorf("the load balancer listens with %v and publishes %v, want the gateways' port %s", lb.Command, lb.Ports, port)
		}
	})

	t.Run("deployment.yaml and kustomization.yaml", func(t *testing.T) {
		d, svc := readDeployment(t)
		pod := d.Spec.Template.Spec
		gw, app := pod.container(t, "gateway"), pod.container(t, "app")
		if d.Spec.Replicas < 3 {
			t.Errorf("the Deployment has %d replicas, want three", d.Spec.Replicas)
		}
		labels := d.Spec.Template.Metadata.Labels
		if len(labels) == 0 || !maps.Equal(d.Spec.Selector.MatchLabels, labels) || !maps.Equal(svc.Spec.Selector, labels) {
			t.Errorf("pod labels %v, the Deployment selects %v, the Service %v; want the same", labels, d.Spec.Selector.MatchLabels, svc.Spec.Selector)
		}
		var env []string
		for _, e := range gw.Env {
			env = append(env, e.Name+"="+e.Value)
		}
		for _, name := range required {
			if _, ok := envValue(env, name); !ok {
				t.Errorf("the gateway's env lacks %s, which the Caddyfile needs", name)
			}
		}
		port, _ := envValue(env, "PORT")
		if len(gw.Ports) != 1 || strconv.Itoa(gw.Ports[0].ContainerPort) != port {
			t.Fatalf("gateway ports %v, want PORT %s", gw.Ports, port)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != gw.Ports[0].Name {
			t.Errorf("the Service's ports %+v, want one to the gateway's port %s", svc.Spec.Ports, gw.Ports[0].Name)
		}
		for name, p := range map[string]*podProbe{"liveness": gw.LivenessProbe, "readiness": gw.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("no %s probe with httpGet", name)
			} else if p.HTTPGet.Path != healthPath || p.HTTPGet.Port != gw.Ports[0].Name {
				t.Errorf("%s probe GET %s on port %s, want GET %s on port %s", name, p.HTTPGet.Path, p.HTTPGet.Port, healthPath, gw.Ports[0].Name)
			}
		}
		if upstream, _ := envValue(env, "UPSTREAM"); listenArg(app.Command) != upstream || !strings.HasPrefix(upstream, "127.0.0.1:") {
			t.Errorf("app listens on %q, UPSTREAM %q; want the pod's loopback address", listenArg(app.Command), upstream)
		}

		var kustomization struct {
			Resources          []string
			ConfigMapGenerator []struct {
				Name  string
				Files []string
			} `yaml:"configMapGenerator"`
		}
		data, err := os.ReadFile(examplePath("sidecar", "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &kustomization); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(kustomization.Resources, []string{"deployment.yaml"}) || len(kustomization.ConfigMapGenerator) != 1 ||
			!slices.Equal(kustomization.ConfigMapGenerator[0].Files, append([]string{filepath.Base(img.configPath())}, policies...)) {
			t.Fatalf("kustomization %+v, want deployment.yaml and a ConfigMap of the Caddyfile and the policies %v", kustomization, policies)
		}
		// The Secret is made once by the command deployment.yaml gives, never by a re-apply.
		manifest, err := os.ReadFile(examplePath("sidecar", "deployment.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		create := regexp.MustCompile(`kubectl create secret generic (\S+) --from-literal=([\w.-]+)="\$\(openssl rand -base64 (\d+)\)"`).FindSubmatch(manifest)
		if create == nil {
			t.Fatal("deployment.yaml does not say how to create the key secret (kubectl create secret generic ... openssl rand)")
		}
		if n, _ := strconv.Atoi(string(create[3])); n < 32 {
			t.Errorf("the key secret is made of %d random bytes, want at least 32", n)
		}
		mounts := map[string]string{} // mount path -> what is mounted
		for _, m := range gw.VolumeMounts {
			for _, v := range pod.Volumes {
				switch {
				case v.Name != m.Name:
				case v.ConfigMap != nil && v.ConfigMap.Name == kustomization.ConfigMapGenerator[0].Name && m.ReadOnly:
					mounts[m.MountPath] = "caddyfile"
				case v.EmptyDir != nil:
					mounts[m.MountPath] = "scratch"
				case v.Secret != nil && v.Secret.SecretName == string(create[1]) && m.SubPath == string(create[2]) && m.ReadOnly:
					mounts[m.MountPath] = "key secret"
				}
			}
		}
		for _, v := range pod.Volumes {
			if v.PVC != nil {
				t.Errorf("the pod mounts the claim %s: the replicas need no shared storage", v.PVC.ClaimName)
			}
		}
		if mounts[filepath.Dir(img.configPath())] != "caddyfile" || mounts[dataDir] != "scratch" || mounts[secretFile] != "key secret" {
			t.Errorf("gateway mounts %v, want the ConfigMap read-only at %s, scratch space at %s and the Secret's %s read-only at %s",
				mounts, filepath.Dir(img.configPath()), dataDir, create[2], secretFile)
		}

		uid, _, _ := strings.Cut(img.user, ":")
		sc := pod.SecurityContext
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid {
			t.Errorf("the pod's securityContext does not set runAsNonRoot and runAsUser to the image's user %s", uid)
		}
		for _, c := range pod.Containers {
			s := c.SecurityContext
			if s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem || s.AllowPrivilegeEscalation == nil ||
				*s.AllowPrivilegeEscalation || !slices.Equal(s.Capabilities.Drop, []string{"ALL"}) {
				t.Errorf("container %s: securityContext does not set a read-only root, no privilege escalation and ALL capabilities dropped", c.Name)
			}
		}
	})
}

// staticBuild serializes the builds made with the Dockerfile's flags (CGO off, -trimpath): the sidecar
// binary and the harness's Caddy share their compiled packages, so the second one only links.
var staticBuild struct {
	mu        sync.Mutex
	once      sync.Once
	sidecar   string // the binary the Dockerfile's build line made
	sidecarEr error
}

// sidecarBinary runs the go build line of the Dockerfile's build stage, as written, with its output
// put in the run's scratch directory instead of /out: once per run.
func sidecarBinary(t *testing.T) string {
	t.Helper()
	requireEndToEnd(t)
	img := readSidecarImage(t)
	staticBuild.once.Do(func() {
		staticBuild.mu.Lock()
		defer staticBuild.mu.Unlock()
		if err := readBuildInputs(harness.root); err != nil {
			staticBuild.sidecarEr = err
			return
		}
		bin := filepath.Join(harness.tmp, "sidecar", "caddy")
		command := strings.Replace(img.buildCmd, "-o "+img.output, "-o '"+bin+"'", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Dir = harness.root
		// As in the golang image: none of the machine's build settings.
		cmd.Env = childEnv([]string{"CGO_ENABLED=", "GOFLAGS=", "GOOS=", "GOARCH=", "GOEXPERIMENT="})
		if out, err := cmd.CombinedOutput(); err != nil {
			staticBuild.sidecarEr = fmt.Errorf("the Dockerfile's build, %s: %v\n%s", command, err, out)
			return
		}
		staticBuild.sidecar = bin
	})
	if staticBuild.sidecarEr != nil {
		t.Fatal(staticBuild.sidecarEr)
	}
	return staticBuild.sidecar
}

// ourModules are the Caddy modules of this project, as list-modules names them.
var ourModules = []string{
	"http.authentication.providers.cognito",
	"http.handlers.cognito_authorizer",
	"http.handlers.cognito_identity_pool",
}

// checkListModules runs `bin list-modules` and fails the test unless it lists all of ourModules and
// Caddy's standard modules.
func checkListModules(t *testing.T, bin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "list-modules").Output()
	if err != nil {
		t.Fatalf("%s list-modules: %v", bin, err)
	}
	listed := strings.Fields(string(out))
	for _, m := range append([]string{"http.handlers.reverse_proxy", "caddy.storage.file_system"}, ourModules...) {
		if !slices.Contains(listed, m) {
			t.Errorf("list-modules does not list %s", m)
		}
	}
}

func TestSidecarDockerfileBuildsAStaticBinary(t *testing.T) {
	t.Parallel()
	bin := sidecarBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a dynamic loader: it is not static and would not run in the image")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v, want CGO_ENABLED=0 and -trimpath", settings)
	}
	// -ldflags="-s -w" (go does not record -ldflags with -trimpath): no symbol table, no DWARF.
	for _, s := range f.Sections {
		if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("the binary has a %s section: it is not stripped", s.Name)
		}
	}
	if info.Main.Path != "github.com/caddy-cognito/caddy-cognito" {
		t.Errorf("main module %s", info.Main.Path)
	}
	checkListModules(t, bin)
}

// TestSidecarEndToEnd runs the binary the Dockerfile builds with the sidecar's Caddyfile, in the
// environment compose.yaml gives it and in the one deployment.yaml gives it (the user's pool put in, as
// they would): three replicas each time, sharing the key secret and nothing else, called as the
// orchestrator and the clients do, each call to whichever replica a load balancer would pick.
func TestSidecarEndToEnd(t *testing.T) {
	t.Parallel()
	bin := sidecarBinary(t)
	emu := startCognitoLocal(t)
	pool := newUserPool(t, emu)
	sub := pool.AddUser(t, "alice@example.com")
	settings := sidecarSettings(emu.URL, pool.ID, pool.ClientID)
	podEnv := sidecarPodEnv(t)
	for k, v := range settings {
		podEnv = append(podEnv, k+"="+v)
	}
	tests := []struct {
		name string
		env  []string
	}{
		{"compose.yaml", sidecarComposeEnv(t, settings)},
		{"deployment.yaml", podEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			// The app's address: the test's echo upstream stands for it.
			// The image has the role policies beside the Caddyfile; here they are in examples/sidecar.
			env := append(tt.env, "UPSTREAM="+up.Addr, "POLICY_DIR="+examplePath("sidecar"), sidecarKeySecret(t))
			var replicas []*caddyServer
			for range 3 {
				replicas = append(replicas, startExample(t, bin, examplePath("sidecar", "Caddyfile"), env...))
			}
			a, b, c := replicas[0], replicas[1], replicas[2]
			poolID, _ := envValue(tt.env, "IDENTITY_POOL_ID")

			for i, srv := range replicas {
				resp := srv.get(t, healthPath, nil)
				if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(body) != "ok" || up.Count() != 0 {
					t.Errorf("replica %d's health check: %d %q (upstream reached %d times), want 200 ok from the gateway", i, resp.StatusCode, body, up.Count())
				}
			}
			e := decodeEcho(t, runGoClient(t, "-flow", "jwt", "-api", a.BaseURL+"/orders/42", "-client-id", pool.ClientID,
				"-username", "alice@example.com", "-user-pool-endpoint", emu.URL).ok(t))
			wantHeaders(t, e, map[string]string{"X-Cognito-Sub": sub})
			e = decodeEcho(t, runGoClient(t, "-flow", "guest", "-api", b.BaseURL+"/public/hello", "-identity-pool-id", poolID).ok(t))
			wantHeaders(t, e, map[string]string{"X-Cognito-Role-Arn": sidecarGuestRole, "X-Cognito-Authentication-Type": "unauthenticated"})
			e = decodeEcho(t, runGoClient(t, "-flow", "user", "-api", c.BaseURL+"/public/hello", "-user-pool-id", pool.ID,
				"-client-id", pool.ClientID, "-username", "alice@example.com", "-user-pool-endpoint", emu.URL, "-identity-pool-id", poolID).ok(t))
			wantHeaders(t, e, map[string]string{"X-Cognito-Role-Arn": sidecarUserRole, "X-Cognito-Authentication-Type": "authenticated"})

			// The fleet: an identity one replica made gets its credentials from another, and those
			// credentials are accepted by every replica.
			guestID, err := identityClient(a.BaseURL+"/identity").GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(poolID)})
			if err != nil {
				t.Fatalf("GetId at replica a: %v", err)
			}
			out, err := identityClient(b.BaseURL+"/identity").GetCredentialsForIdentity(t.Context(),
				&cognitoidentity.GetCredentialsForIdentityInput{IdentityId: guestID.IdentityId})
			if err != nil {
				t.Fatalf("GetCredentialsForIdentity at replica b, for an identity of replica a: %v", err)
			}
			guest := aws.Credentials{AccessKeyID: aws.ToString(out.Credentials.AccessKeyId),
				SecretAccessKey: aws.ToString(out.Credentials.SecretKey), SessionToken: aws.ToString(out.Credentials.SessionToken)}
			region, _ := envValue(tt.env, "COGNITO_REGION")
			logins := map[string]string{"cognito-idp." + region + ".amazonaws.com/" + pool.ID: pool.SignIn(t, "alice@example.com").ID}
			userID, user := identityCredentials(t, c.BaseURL+"/identity", poolID, logins)
			other := "us-east-1:00000000-0000-4000-8000-000000000000"
			// What the roles' policies allow, and nothing more, with aws-sdk-go-v2's credentials and
			// signer, at every replica.
			for i, srv := range replicas {
				wantAllowed(t, signedDo(t, http.MethodHead, srv.BaseURL+"/public/hello", "", guest))
				wantAllowed(t, signedDo(t, http.MethodGet, srv.BaseURL+"/users/"+userID, "", user))
				if e := wantAllowed(t, signedDo(t, http.MethodPut, srv.BaseURL+"/users/"+userID+"/cart", `{"items": 1}`, user)); e.Body != `{"items": 1}` {
					t.Errorf("upstream saw %q through replica %d, want the user's PUT body", e.Body, i)
				}
			}

			before := up.Count()
			for i, r := range []struct {
				caller      string
				method, url string
			}{
				{"guest", http.MethodDelete, "/admin/everything"},
				{"guest", http.MethodGet, "/orders/42"},
				{"guest", http.MethodPost, "/public/hello"},
				{"guest", http.MethodGet, "/users/" + userID},
				{"user", http.MethodDelete, "/admin/everything"},
				{"user", http.MethodPut, "/users/" + other + "/cart"},
				{"user", http.MethodGet, "/x/users/" + userID + "/cart"},
			} {
				creds := guest
				if r.caller == "user" {
					creds = user
				}
				srv := replicas[i%len(replicas)]
				t.Run(r.caller+" "+r.method+" "+r.url+" is refused", func(t *testing.T) {
					wantAccessDenied(t, signedDo(t, r.method, srv.BaseURL+r.url, "", creds))
				})
			}
			if resp := b.get(t, "/orders/42", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("no credentials: %d, want 401", resp.StatusCode)
			}

			// A gateway with another secret is not of the fleet: it refuses the fleet's credentials.
			stranger := startExample(t, bin, examplePath("sidecar", "Caddyfile"), append(env, sidecarKeySecret(t))...)
			resp := signedDo(t, http.MethodGet, stranger.BaseURL+"/public/hello", "", guest)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "UnrecognizedClientException" {
				t.Errorf("a gateway with another key secret answered the fleet's credentials %d %s, want 403 UnrecognizedClientException",
					resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
			}
			if up.Count() != before {
				t.Errorf("a refused request reached the app")
			}
			for _, srv := range append(replicas, stranger) {
				if strings.Contains(srv.LogText(), "has no role_policy") {
					t.Error("the sidecar starts with a warning about a route without role policies")
				}
				if strings.Contains(srv.LogText(), "placeholder: failed to read file") {
					t.Error("the sidecar could not read its key secret")
				}
			}
		})
	}
}

// TestSidecarBuildContextHasWhatTheBuildNeeds checks Dockerfile.dockerignore against the packages (and
// embedded files) of this module that cmd/caddy is built from: none may be left out of the build context.
func TestSidecarBuildContextHasWhatTheBuildNeeds(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(examplePath("sidecar", "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var ignored []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignored = append(ignored, strings.TrimSuffix(line, "/"))
		}
	}
	excluded := func(rel string) string {
		parts := strings.Split(rel, "/")
		for _, p := range ignored {
			for i := range parts {
				prefix := strings.Join(parts[:i+1], "/")
				if ok, _ := filepath.Match(p, prefix); ok {
					return p
				}
				if name, found := strings.CutPrefix(p, "**/"); found {
					if ok, _ := filepath.Match(name, parts[i]); ok {
						return p
					}
				}
			}
		}
		return ""
	}
	if excluded("integration/js/node_modules/x") == "" || excluded("cmd/caddy/main.go") != "" {
		t.Fatal("the pattern matching of this test is broken")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{$.Dir}}/{{.}}{{end}}{{range .EmbedFiles}} {{$.Dir}}/{{.}}{{end}}{{end}}{{end}}`,
		"./cmd/caddy")
	cmd.Dir = harness.root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := append(strings.Fields(string(out)), filepath.Join(harness.root, "go.mod"), filepath.Join(harness.root, "go.sum"))
	if len(files) < 10 {
		t.Fatalf("go list found only %v", files)
	}
	for _, f := range files {
		rel, err := filepath.Rel(harness.root, f)
		if err != nil {
			t.Fatal(err)
		}
		if p := excluded(filepath.ToSlash(rel)); p != "" {
			t.Errorf("%s is needed by the build but left out of its context by %q", rel, p)
		}
	}
}
