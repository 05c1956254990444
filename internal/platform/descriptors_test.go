package platform

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The deployment descriptors (s.yaml for Function Compute, template.yml for Lambda) are part of
// the platform edge: these tests hold them to what docs/operations.md promises, and s.yaml to the
// fc3 component's schema. `make lint` runs them, and cfn-lint on template.yml when installed.

func readRoot(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sYAML is s.yaml with its ${vars.x} and ${config('AccountID')} references resolved in each
// string value, the way Serverless Devs resolves them before the component sees the props.
func sYAML(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(readRoot(t, "s.yaml"), &doc); err != nil {
		t.Fatal(err)
	}
	vars, _ := doc["vars"].(map[string]any)
	ref := regexp.MustCompile(`\$\{vars\.([A-Za-z0-9_]+)\}|\$\{config\('AccountID'\)\}`)
	var resolve func(v any) any
	resolve = func(v any) any {
		switch v := v.(type) {
		case string:
			return ref.ReplaceAllStringFunc(v, func(m string) string {
				if strings.HasPrefix(m, "${config") {
					return "1234567890123456"
				}
				val, ok := vars[ref.FindStringSubmatch(m)[1]]
				if !ok {
					t.Errorf("s.yaml uses %s, which vars does not define", m)
				}
				return toString(val)
			})
		case map[string]any:
			for k, x := range v {
				v[k] = resolve(x)
			}
		case []any:
			for i, x := range v {
				v[i] = resolve(x)
			}
		}
		return v
	}
	return resolve(doc).(map[string]any)
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// jsonable converts YAML-decoded values to what encoding/json would produce.
func jsonable(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compileSchema(t *testing.T, path string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	abs, _ := filepath.Abs(path)
	s, err := c.Compile(abs)
	if err != nil {
		t.Fatalf("schema %s: %v", path, err)
	}
	return s
}

func TestDescriptorsSYAMLMatchesTheFC3Schema(t *testing.T) {
	doc := sYAML(t)
	schemas := []string{filepath.Join("testdata", "fc3-props.schema.json")}
	// The component's own schema, when a copy is at hand (FC3_SCHEMA=path/to/src/schema.json).
	if p := os.Getenv("FC3_SCHEMA"); p != "" {
		schemas = append(schemas, p)
	}
	resources, _ := doc["resources"].(map[string]any)
	if len(resources) != 2 {
		t.Fatalf("resources %v: want alicom-drain and alicom-push", resources)
	}
	for name, r := range resources {
		res, _ := r.(map[string]any)
		if res["component"] != "fc3" {
			t.Errorf("%s: component %v, want fc3", name, res["component"])
		}
		for _, s := range schemas {
			if err := compileSchema(t, s).Validate(jsonable(t, res["props"])); err != nil {
				t.Errorf("%s props against %s:\n%v", name, s, err)
			}
		}
	}
}

func TestDescriptorsSYAMLBuildsEachFunctionOnceAndKeepsLogs(t *testing.T) {
	doc := sYAML(t)
	resources, _ := doc["resources"].(map[string]any)
	for name, r := range resources {
		res := r.(map[string]any)
		props := res["props"].(map[string]any)
		actions, _ := res["actions"].(map[string]any)
		runs := toString(actions["pre-deploy"])
		if !strings.Contains(runs, "make build-fc-"+name) || strings.Count(runs, "make ") != 1 {
			t.Errorf("%s: pre-deploy %s: want exactly `make build-fc-%s`", name, runs, name)
		}
		if props["code"] != "./dist/fc/"+name {
			t.Errorf("%s: code %v is not what build-fc-%s writes", name, props["code"], name)
		}
		if props["logConfig"] != "auto" {
			t.Errorf("%s: logConfig %v: FC 3.0 keeps no logs without it", name, props["logConfig"])
		}
	}
}

// cfnTags lets yaml.v3 read CloudFormation's short-form intrinsic functions (!Ref, !Sub ...)
// as plain values.
func cfnTemplate(t *testing.T) map[string]any {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(readRoot(t, "template.yml"), &root); err != nil {
		t.Fatal(err)
	}
	var strip func(n *yaml.Node)
	strip = func(n *yaml.Node) {
		if strings.HasPrefix(n.Tag, "!") {
			n.Tag = ""
		}
		for _, c := range n.Content {
			strip(c)
		}
	}
	strip(&root)
	var out map[string]any
	if err := root.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDescriptorsTemplateDeploysOnANewAccountAndKeepsSecretsOut(t *testing.T) {
	raw := string(readRoot(t, "template.yml"))
	if strings.Contains(raw, "ReservedConcurrentExecutions") {
		t.Error("ReservedConcurrentExecutions fails to deploy on accounts whose concurrency quota is 10")
	}
	if strings.Contains(raw, "{{resolve:") {
		t.Error("a dynamic reference in the template stores the secret in plain text in the function configuration")
	}
	tmpl := cfnTemplate(t)
	params := tmpl["Parameters"].(map[string]any)
	for _, secret := range []string{"AlicomPushToken", "WebhookSecret"} {
		p, _ := params[secret].(map[string]any)
		if p["NoEcho"] != true {
			t.Errorf("parameter %s is a secret: want NoEcho", secret)
		}
	}
	resources := tmpl["Resources"].(map[string]any)
	drain := resources["DrainFunction"].(map[string]any)["Properties"].(map[string]any)
	eic, _ := drain["EventInvokeConfig"].(map[string]any)
	if eic["MaximumEventAgeInSeconds"] != 60 || eic["MaximumRetryAttempts"] != 0 {
		t.Errorf("EventInvokeConfig %v: want stale ticks dropped after 60 s and no retry, as in s.yaml", eic)
	}
	for _, fn := range []string{"DrainFunction", "PushFunction"} {
		props := resources[fn].(map[string]any)["Properties"].(map[string]any)
		policies := toString(props["Policies"])
		if policies != `[{"Statement":[{"Action":"secretsmanager:GetSecretValue","Effect":"Allow","Resource":"AlibabaCloudCredentialsSecretArn"}]}]` {
			t.Errorf("%s policies %s: want only secretsmanager:GetSecretValue on the credentials secret", fn, policies)
		}
	}
	push := resources["PushFunction"].(map[string]any)["Properties"].(map[string]any)
	if push["FunctionUrlConfig"] == nil {
		t.Error("PushFunction has no function URL")
	}
	env := toString(tmpl["Globals"].(map[string]any)["Function"].(map[string]any)["Environment"])
	for _, v := range []string{"ALICOM_CREDENTIALS_SECRET", "ALICOM_SINK", "ALICOM_DEADLETTER", "WEBHOOK_URL", "WEBHOOK_SECRET",
		"WEBHOOK_BATCH_SIZE", "WEBHOOK_TIMEOUT", "FORWARD_MNS_ENDPOINT", "FORWARD_MNS_QUEUE", "FORWARD_MNS_TOPIC", "DEADLETTER_MNS_QUEUE"} {
		if !strings.Contains(env, `"`+v+`"`) {
			t.Errorf("the functions' environment lacks %s", v)
		}
	}
	if strings.Contains(env, "ALIBABA_CLOUD_ACCESS_KEY") {
		t.Error("an Alibaba Cloud key is in the function configuration")
	}
}

func TestDescriptorsAgreeOnStaleTicks(t *testing.T) {
	fc := sYAML(t)["resources"].(map[string]any)["alicom-drain"].(map[string]any)["props"].(map[string]any)["asyncInvokeConfig"].(map[string]any)
	aws := cfnTemplate(t)["Resources"].(map[string]any)["DrainFunction"].(map[string]any)["Properties"].(map[string]any)["EventInvokeConfig"].(map[string]any)
	if fc["maxAsyncEventAgeInSeconds"] != aws["MaximumEventAgeInSeconds"] || fc["maxAsyncRetryAttempts"] != aws["MaximumRetryAttempts"] {
		t.Errorf("FC %v and Lambda %v treat stale or failed ticks differently", fc, aws)
	}
}

func TestTheFC3PropsSchemaRefusesWhatFunctionComputeWouldNotKeep(t *testing.T) {
	s := compileSchema(t, filepath.Join("testdata", "fc3-props.schema.json"))
	good := func() map[string]any {
		return map[string]any{"region": "cn-hangzhou", "functionName": "f", "runtime": "go1", "handler": "main", "code": "./d",
			"logConfig": "auto", "triggers": []any{map[string]any{"triggerName": "t", "triggerType": "timer",
				"triggerConfig": map[string]any{"cronExpression": "@every 1m", "enable": true}}},
			"asyncInvokeConfig": map[string]any{"maxAsyncEventAgeInSeconds": 60, "maxAsyncRetryAttempts": 0}}
	}
	if err := s.Validate(jsonable(t, good())); err != nil {
		t.Fatalf("the good props fail: %v", err)
	}
	tests := []struct {
		name   string
		change func(p map[string]any)
	}{
		{"instanceConcurrency on go1", func(p map[string]any) { p["instanceConcurrency"] = 1 }},
		{"no logConfig", func(p map[string]any) { delete(p, "logConfig") }},
		{"a timer without a bounded event age", func(p map[string]any) { delete(p, "asyncInvokeConfig") }},
		{"a misspelt prop", func(p map[string]any) { p["memorysize"] = 128 }},
		{"a memory size that is not a multiple of 64", func(p map[string]any) { p["memorySize"] = 100 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good()
			tt.change(p)
			if s.Validate(jsonable(t, p)) == nil {
				t.Error("accepted")
			}
		})
	}
}
