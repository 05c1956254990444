package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alicom-drain/alicom-drain/internal/drain"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadWithNothingSetGivesTheDocumentedDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.MessageTypes, ",") != DefaultMessageTypes {
		t.Errorf("MessageTypes = %v", c.MessageTypes)
	}
	if c.MNSEndpoint != DefaultMNSEndpoint || c.DybaseapiEndpoint != DefaultDybaseapiEndpoint || c.Region != DefaultRegion {
		t.Errorf("endpoints = %s %s %s", c.MNSEndpoint, c.DybaseapiEndpoint, c.Region)
	}
	if c.DrainMode != drain.ModeDrain || c.Receivers != 4 || c.BatchSize != 16 || c.Wait != 0 || c.MaxAttempts != 5 ||
		c.HandlerTimeout != 10*time.Second || c.RefreshBefore != 2*time.Minute {
		t.Errorf("limits = %+v", c)
	}
	if got := c.DeadlineMargin; got != 0 {
		t.Errorf("deadline margin = %s, want 0: automatic", got)
	}
	if got, want := c.DrainOptions(), drain.DefaultOptions(); !reflect.DeepEqual(got, want) {
		t.Errorf("DrainOptions() = %+v\nwant the drain's defaults %+v", got, want)
	}
	for _, v := range Vars {
		if v.Name == "" || v.Meaning == "" {
			t.Errorf("variable %+v is undocumented", v)
		}
	}
}

func TestLoadReadsEveryVariable(t *testing.T) {
	c, err := Load(env(map[string]string{
		"ALICOM_MESSAGE_TYPES":      " SmsReport , SmsUp,VoiceReport ",
		"ALICOM_ACCOUNT_UID":        "1234567890123456",
		"ALICOM_QUEUE_NAMES":        "SmsUp=Custom-Queue",
		"ALICOM_MNS_ENDPOINT":       "http://127.0.0.1:9911/",
		"ALICOM_DYBASEAPI_ENDPOINT": "http://127.0.0.1:9911",
		"ALICOM_REGION":             "ap-southeast-1",
		"DRAIN_MODE":                "follow",
		"DRAIN_RECEIVERS":           "8",
		"DRAIN_BATCH_SIZE":          "10",
		"DRAIN_WAIT_SECONDS":        "0",
		"DRAIN_MAX_MESSAGES":        "500",
		"DRAIN_MAX_DURATION":        "50s",
		"DRAIN_DEADLINE_MARGIN":     "5s",
		"DRAIN_MAX_ATTEMPTS":        "3",
		"DRAIN_HANDLER_TIMEOUT":     "2s",
		"TOKEN_REFRESH_BEFORE":      "30s",
		"LOG_LEVEL":                 "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.MessageTypes, ","); got != "SmsReport,SmsUp,VoiceReport" {
		t.Errorf("MessageTypes = %s", got)
	}
	if c.MNSEndpoint != "http://127.0.0.1:9911" {
		t.Errorf("MNSEndpoint = %s, want the trailing slash dropped", c.MNSEndpoint)
	}
	if o := c.DrainOptions(); o.Mode != drain.ModeFollow || o.Receivers != 8 || o.Wait != 0 || o.DeadlineMargin != 5*time.Second ||
		o.HandlerTimeout != 2*time.Second || o.Validate() != nil {
		t.Errorf("DrainOptions() = %+v (%v)", o, o.Validate())
	}
	if c.Receivers != 8 || c.BatchSize != 10 || c.Wait != 0 || c.MaxMessages != 500 || c.MaxDuration != 50*time.Second ||
		c.DeadlineMargin != 5*time.Second || c.MaxAttempts != 3 || c.HandlerTimeout != 2*time.Second ||
		c.RefreshBefore != 30*time.Second || c.LogLevel.String() != "DEBUG" || c.Region != "ap-southeast-1" {
		t.Errorf("config = %+v", c)
	}
	for typ, want := range map[string]string{"SmsReport": "Alicom-Queue-1234567890123456-SmsReport", "SmsUp": "Custom-Queue"} {
		if got, err := c.QueueName(typ, c.AccountUID); err != nil || got != want {
			t.Errorf("QueueName(%s) = %q, %v; want %q", typ, got, err, want)
		}
	}
}

func TestLoadNamesTheVariableAndWhatItExpects(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"a message type with a space is refused", map[string]string{"ALICOM_MESSAGE_TYPES": "Sms Report"}, `ALICOM_MESSAGE_TYPES: "Sms Report" is not a message type name: expected a comma-separated list like SmsReport,SmsUp`},
		{"an empty list of types is refused", map[string]string{"ALICOM_MESSAGE_TYPES": " , "}, "ALICOM_MESSAGE_TYPES: no message type given"},
		{"a type listed twice is refused", map[string]string{"ALICOM_MESSAGE_TYPES": "SmsUp,SmsUp"}, "ALICOM_MESSAGE_TYPES: SmsUp is listed twice"},
		{"a UID with letters is refused", map[string]string{"ALICOM_ACCOUNT_UID": "12ab"}, `ALICOM_ACCOUNT_UID: "12ab" is not an account UID: expected digits only`},
		{"a queue name pair without '=' is refused", map[string]string{"ALICOM_QUEUE_NAMES": "SmsReport"}, `ALICOM_QUEUE_NAMES: "SmsReport" is not Type=QueueName`},
		{"a queue name with a slash is refused", map[string]string{"ALICOM_QUEUE_NAMES": "SmsReport=a/b"}, `ALICOM_QUEUE_NAMES: "a/b" is not a valid MNS queue name`},
		{"a queue name for an undrained type is refused", map[string]string{"ALICOM_QUEUE_NAMES": "VoiceReport=Q"}, "ALICOM_QUEUE_NAMES: names a queue for VoiceReport, which ALICOM_MESSAGE_TYPES does not list"},
		{"an endpoint without a scheme is refused", map[string]string{"ALICOM_MNS_ENDPOINT": "127.0.0.1:9911"}, `ALICOM_MNS_ENDPOINT: "127.0.0.1:9911" is not an endpoint URL: expected scheme and host only`},
		{"an endpoint with a path is refused", map[string]string{"ALICOM_DYBASEAPI_ENDPOINT": "https://dybaseapi.aliyuncs.com/x"}, "ALICOM_DYBASEAPI_ENDPOINT: "},
		{"an endpoint with user info is refused", map[string]string{"ALICOM_MNS_ENDPOINT": "https://u:p@example.com"}, "ALICOM_MNS_ENDPOINT: "},
		{"a region with capitals is refused", map[string]string{"ALICOM_REGION": "CN-Hangzhou"}, `ALICOM_REGION: "CN-Hangzhou" is not a region ID`},
		{"an unknown drain mode is refused", map[string]string{"DRAIN_MODE": "tail"}, `DRAIN_MODE: "tail" is not valid: expected drain or follow`},
		{"zero receivers are refused", map[string]string{"DRAIN_RECEIVERS": "0"}, `DRAIN_RECEIVERS: "0" is not valid: expected a whole number from 1 to 64`},
		{"a batch of 17 is refused", map[string]string{"DRAIN_BATCH_SIZE": "17"}, `DRAIN_BATCH_SIZE: "17" is not valid: expected a whole number from 1 to 16`},
		{"a wait of 31 seconds is refused", map[string]string{"DRAIN_WAIT_SECONDS": "31"}, "DRAIN_WAIT_SECONDS: "},
		{"a negative budget is refused", map[string]string{"DRAIN_MAX_MESSAGES": "-1"}, "DRAIN_MAX_MESSAGES: "},
		{"a duration without a unit is refused", map[string]string{"DRAIN_HANDLER_TIMEOUT": "10"}, `DRAIN_HANDLER_TIMEOUT: "10" is not valid: expected a duration such as 10s or 2m`},
		{"a margin that is not a duration is refused", map[string]string{"DRAIN_DEADLINE_MARGIN": "soon"}, "DRAIN_DEADLINE_MARGIN: "},
		{"zero attempts are refused", map[string]string{"DRAIN_MAX_ATTEMPTS": "0"}, "DRAIN_MAX_ATTEMPTS: "},
		{"an unknown log level is refused", map[string]string{"LOG_LEVEL": "loud"}, `LOG_LEVEL: "loud" is not a log level: expected debug, info, warn or error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tt.want)
			}
			for _, ve := range VarErrors(err) {
				if !strings.Contains(ve.Problem, ": expected ") && !strings.Contains(ve.Problem, "(expected ") {
					t.Errorf("%s: %q does not say what is expected", ve.Name, ve.Problem)
				}
			}
		})
	}
}

func TestLoadReportsEveryWrongVariableAtOnce(t *testing.T) {
	_, err := Load(env(map[string]string{"DRAIN_RECEIVERS": "x", "LOG_LEVEL": "x", "ALICOM_REGION": "x"}))
	for _, name := range []string{"DRAIN_RECEIVERS", "LOG_LEVEL", "ALICOM_REGION"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("err = %v, want it to name %s", err, name)
		}
	}
}

func TestQueueNameWithoutAUIDSaysWhatToSet(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.QueueName("SmsReport", "")
	if err == nil || !strings.Contains(err.Error(), "ALICOM_ACCOUNT_UID: not set") {
		t.Fatalf("err = %v", err)
	}
}

func TestTheREADMEDocumentsEveryVariableWithItsDefault(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if cells := strings.Split(line, "|"); len(cells) == 5 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.Trim(strings.TrimSpace(cells[2]), "`")
		}
	}
	for _, v := range Vars {
		got, ok := rows[v.Name]
		if !ok {
			t.Errorf("README's configuration table has no row for %s", v.Name)
		} else if got != v.Default {
			t.Errorf("README gives %s the default %q, the code %q", v.Name, got, v.Default)
		}
	}
}

// The README's defaults are Vars' (above); this holds Vars' to the ones Load applies, which are
// written separately (a string for the table, a value for the code).
func TestEveryDocumentedDefaultIsTheOneLoadApplies(t *testing.T) {
	unset, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars {
		if v.Default == "" || strings.HasPrefix(v.Default, "FC:") { // nothing, or the platform's
			continue
		}
		set, err := Load(env(map[string]string{v.Name: v.Default}))
		if err != nil {
			t.Errorf("%s=%s, its documented default, is refused: %v", v.Name, v.Default, err)
		} else if !reflect.DeepEqual(set, unset) {
			t.Errorf("%s=%s, its documented default, gives another configuration than leaving it unset:\n%+v\nwant\n%+v", v.Name, v.Default, set, unset)
		}
	}
}

func TestMessageTypesAreCheckedAgainstTheKnownOnes(t *testing.T) {
	tests := []struct {
		name, types string
		wantErr     string
		wantWarning string
	}{
		{"known types pass without a word", "SmsReport,SmsUp", "", ""},
		{"a type in the wrong case is refused with the right spelling", "smsreport", `ALICOM_MESSAGE_TYPES: "smsreport" is not a message type: did you mean SmsReport?`, ""},
		{"a near miss is allowed with a suggestion", "SmsRepot", "", "ALICOM_MESSAGE_TYPES: SmsRepot is not a type this version knows: did you mean SmsReport?"},
		{"an unknown type is allowed with a warning, since Alicom adds types", "Bogus", "", "ALICOM_MESSAGE_TYPES: Bogus is not a type this version knows ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(map[string]string{"ALICOM_MESSAGE_TYPES": tt.types}))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			got := strings.Join(c.Warnings, "\n")
			if (tt.wantWarning == "") != (got == "") || !strings.Contains(got, tt.wantWarning) {
				t.Fatalf("warnings = %q, want %q", got, tt.wantWarning)
			}
		})
	}
}

func TestOutsideFunctionComputeTheAccountAndKeysMustBeSet(t *testing.T) {
	keys := map[string]string{EnvAccessKeyID: "LTAIexample", EnvAccessKeySecret: "s"}
	tests := []struct {
		name string
		env  map[string]string
		want []string // variable names reported; none means no error
	}{
		{"nothing set names both the UID and the keys", nil, []string{"ALICOM_ACCOUNT_UID", EnvAccessKeyID}},
		{"UID and keys set is enough", map[string]string{"ALICOM_ACCOUNT_UID": "123", EnvAccessKeyID: "LTAIexample", EnvAccessKeySecret: "s"}, nil},
		{"a key id without its secret is not enough", map[string]string{"ALICOM_ACCOUNT_UID": "123", EnvAccessKeyID: "LTAIexample"}, []string{EnvAccessKeyID}},
		{"a Secrets Manager secret stands for the keys", map[string]string{"ALICOM_ACCOUNT_UID": "123", EnvCredentialsSecret: "alicom/keys"}, nil},
		{"explicit queue names for every type stand for the UID", map[string]string{"ALICOM_QUEUE_NAMES": "SmsReport=A,SmsUp=B", EnvAccessKeyID: keys[EnvAccessKeyID], EnvAccessKeySecret: "s"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ve := range VarErrors(c.CheckOutsideFC()) {
				got = append(got, ve.Name)
				if !strings.Contains(ve.Problem, "expected") {
					t.Errorf("%s: %q does not say what is expected", ve.Name, ve.Problem)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("reported %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVarErrorsListsEachProblemWithItsVariable(t *testing.T) {
	_, err := Load(env(map[string]string{"DRAIN_RECEIVERS": "x", "LOG_LEVEL": "loud"}))
	ves := VarErrors(err)
	if len(ves) != 2 || ves[0].Name != "DRAIN_RECEIVERS" || ves[1].Name != "LOG_LEVEL" ||
		ves[1].Problem != `"loud" is not a log level: expected debug, info, warn or error` {
		t.Fatalf("VarErrors = %+v", ves)
	}
}

func TestASecretNameWithSpacesIsRefused(t *testing.T) {
	_, err := Load(env(map[string]string{EnvCredentialsSecret: "my keys"}))
	if err == nil || !strings.Contains(err.Error(), EnvCredentialsSecret+`: "my keys" is not a secret name or ARN`) {
		t.Fatalf("err = %v", err)
	}
}
