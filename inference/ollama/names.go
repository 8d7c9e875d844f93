package ollama

import (
	"fmt"
	"strings"
)

// ToID turns an Ollama name into Cairn's model id: "org/name" and
// "org/name:latest" are "org/name"; "org/name:file.gguf" is
// "org/name/file.gguf".
func ToID(name string) (string, error) {
	if name == "" {
		return "", badRequest("model is required")
	}
	base, tag, hasTag := strings.Cut(name, ":")
	org, repo, _ := strings.Cut(base, "/")
	if strings.Count(base, "/") != 1 || !validPart(org) || !validPart(repo) {
		return "", badRequest("model %q: want ORG/NAME[:TAG], as in acme/llama or acme/llama:model-q4.gguf", name)
	}
	if !hasTag || tag == "latest" {
		return base, nil
	}
	if !validTag(tag) {
		return "", badRequest("model %q: bad tag %q: want latest or a GGUF file name of the repo (letters, digits, . - _)", name, tag)
	}
	return base + "/" + tag, nil
}

// FromID turns Cairn's model id into the name Ollama clients list:
// "org/name" is "org/name:latest", "org/name/file.gguf" is
// "org/name:file.gguf".
func FromID(id string) string {
	parts := strings.SplitN(id, "/", 3)
	if len(parts) == 3 {
		return parts[0] + "/" + parts[1] + ":" + parts[2]
	}
	return id + ":latest"
}

// idOrErr names the id a request's model resolves to, for messages.
func idOrErr(name string) string {
	id, err := ToID(name)
	if err != nil {
		return fmt.Sprintf("%q", name)
	}
	return id
}

// validTag: a file name in the repo's top folder, as Ollama tags hold no
// slash.
func validTag(tag string) bool {
	if tag == "" || len(tag) > 255 || strings.HasPrefix(tag, ".") {
		return false
	}
	for _, r := range tag {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}

func validPart(p string) bool { return p != "" && p != "." && p != ".." }
