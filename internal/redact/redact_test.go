package redact

import "testing"

func TestRedaction(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"a key id keeps its first four characters", ID("LTAI5tExampleKeyId"), "LTAI…(redacted)"},
		{"a short key id is hidden whole", ID("STS.1234"), Redacted},
		{"an empty key id shows as empty", ID(""), `""`},
		{"a secret is hidden", Secret("s3cr3t"), Redacted},
		{"an empty secret shows as empty", Secret(""), `""`},
		{"a quoted secret is removed from text", From("signed with a+b/c= and a%2Bb%2Fc%3D", "a+b/c="), "signed with (redacted) and (redacted)"},
		{"a twice-escaped secret is removed", From("StringToSign a%252Bb%252Fc%253D", "a+b/c="), "StringToSign (redacted)"},
		{"a secret too short to hide is left alone", From("abc", "ab"), "abc"},
		{"a URL loses its query and user info", URL("https://user:pw@hook.example.com/alicom?token=t0k3n"), "https://hook.example.com/alicom?…"},
		{"a URL without query or user info is shown whole", URL("https://hook.example.com/alicom"), "https://hook.example.com/alicom"},
		{"a URL that does not parse is cut at its query", URL("https://hook.example.com/%zz?token=t0k3n"), "https://hook.example.com/%zz…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
