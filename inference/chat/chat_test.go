package chat

import (
	"strings"
	"testing"
)

// Real chat templates, as the models' tokenizer_config.json ship them.
const (
	tinyLlamaTemplate = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"

	qwen2Template = `{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

	llama3Template = `{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}`

	llama2Template = `{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}`
)

var conversation = []Message{
	{Role: "system", Content: "You are a friendly bot."},
	{Role: "user", Content: "Hello!"},
	{Role: "assistant", Content: " Hi there. "},
	{Role: "user", Content: "What is 2+2?"},
}

func TestTemplates(t *testing.T) {
	tests := []struct {
		name, template, bos, eos string
		msgs                     []Message
		gen                      bool
		want                     string
	}{
		{"tinyllama", tinyLlamaTemplate, "<s>", "</s>", conversation, true,
			"<|system|>\nYou are a friendly bot.</s>\n<|user|>\nHello!</s>\n<|assistant|>\n Hi there. </s>\n<|user|>\nWhat is 2+2?</s>\n<|assistant|>\n"},
		{"tinyllama no generation prompt", tinyLlamaTemplate, "<s>", "</s>", conversation[1:2], false,
			"<|user|>\nHello!</s>\n"},
		{"qwen2", qwen2Template, "", "<|im_end|>", conversation, true,
			"<|im_start|>system\nYou are a friendly bot.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n Hi there. <|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"},
		{"qwen2 default system", qwen2Template, "", "<|im_end|>", conversation[1:2], true,
			"<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"},
		{"llama3", llama3Template, "<|begin_of_text|>", "<|eot_id|>", conversation, true,
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a friendly bot.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"llama2", llama2Template, "<s>", "</s>", conversation, true,
			"<s>[INST] <<SYS>>\nYou are a friendly bot.\n<</SYS>>\n\nHello! [/INST] Hi there. </s><s>[INST] What is 2+2? [/INST]"},
		{"llama2 no system", llama2Template, "<s>", "</s>", conversation[1:2], true,
			"<s>[INST] Hello! [/INST]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := New(tc.template, tc.bos, tc.eos)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if tmpl.Family() != FamilyJinja || tmpl.Fallback() != "" {
				t.Fatalf("Family, Fallback = %q, %q, want jinja, \"\"", tmpl.Family(), tmpl.Fallback())
			}
			got, err := tmpl.Render(tc.msgs, tc.gen)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tc.want {
				t.Errorf("Render =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// The families reproduce their templates exactly on ordinary conversations.
func TestFamiliesMatchTemplates(t *testing.T) {
	for _, tc := range []struct {
		f         Family
		template  string
		bos, eos  string
		convs     [][]Message
		noGenOnly bool
	}{
		{FamilyZephyr, tinyLlamaTemplate, "<s>", "</s>", [][]Message{conversation, conversation[1:], conversation[1:2]}, false},
		{FamilyChatML, qwen2Template, "", "<|im_end|>", [][]Message{conversation}, false},
		{FamilyLlama3, llama3Template, "<|begin_of_text|>", "<|eot_id|>", [][]Message{conversation, conversation[1:]}, false},
		{FamilyLlama2, llama2Template, "<s>", "</s>", [][]Message{conversation, conversation[1:], conversation[1:3]}, false},
	} {
		j, _ := New(tc.template, tc.bos, tc.eos)
		f, err := NewFamily(tc.f, tc.bos, tc.eos)
		if err != nil {
			t.Fatal(err)
		}
		for _, msgs := range tc.convs {
			for _, gen := range []bool{true, false} {
				if tc.f == FamilyLlama2 && !gen {
					continue // the template has no generation prompt to omit
				}
				want, err := j.Render(msgs, gen)
				if err != nil {
					t.Fatalf("%s: template Render: %v", tc.f, err)
				}
				got, _ := f.Render(msgs, gen)
				if got != want {
					t.Errorf("%s family Render(%d msgs, %v) =\n%q\nwant (template)\n%q", tc.f, len(msgs), gen, got, want)
				}
			}
		}
	}
}

func TestRaiseException(t *testing.T) {
	tmpl, err := New(llama2Template, "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render([]Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}}, true)
	if err == nil || !strings.Contains(err.Error(), "Conversation roles must alternate") {
		t.Errorf("Render(user, user) error = %v, want the template's raise_exception message", err)
	}
}

func TestFallback(t *testing.T) {
	tests := []struct {
		name     string
		template string
		vocab    []string
		family   Family
		reason   string
	}{
		{"empty, chatml vocabulary", "", []string{"a", "<|im_start|>", "<|im_end|>"}, FamilyChatML, "no chat template"},
		{"empty, llama3 vocabulary", "", []string{"<|start_header_id|>"}, FamilyLlama3, "no chat template"},
		{"empty, plain", "", []string{"a", "b"}, FamilyPlain, "no chat template"},
		{"malformed chatml", "{% for message in messages %}<|im_start|>{{ message['role'] }", nil, FamilyChatML, "does not compile"},
		{"malformed llama2", "{% if [INST] %}", nil, FamilyLlama2, "does not compile"},
		{"malformed zephyr", "{{ '<|user|>' + }}", nil, FamilyZephyr, "does not compile"},
		{"unclosed block", "{% for m in messages %}{{ m.content }}", []string{"<|user|>"}, FamilyZephyr, "does not compile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := New(tc.template, "<s>", "</s>", tc.vocab...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if tmpl.Family() != tc.family {
				t.Errorf("Family() = %q, want %q", tmpl.Family(), tc.family)
			}
			if !strings.Contains(tmpl.Fallback(), tc.reason) {
				t.Errorf("Fallback() = %q, want it to mention %q", tmpl.Fallback(), tc.reason)
			}
			if _, err := tmpl.Render(conversation, true); err != nil {
				t.Errorf("Render: %v", err)
			}
		})
	}
}

func TestPlain(t *testing.T) {
	tmpl, _ := New("", "", "")
	got, _ := tmpl.Render(conversation[:2], true)
	want := "system: You are a friendly bot.\nuser: Hello!\nassistant:"
	if got != want {
		t.Errorf("plain Render = %q, want %q", got, want)
	}
}

func TestTooLarge(t *testing.T) {
	if _, err := New(strings.Repeat("x", MaxTemplateSize+1), "", ""); err == nil {
		t.Error("New(template over MaxTemplateSize) = nil error, want one")
	}
	if _, err := NewFamily("nope", "", ""); err == nil {
		t.Error(`NewFamily("nope") = nil error, want one`)
	}
}

const gemmaTemplate = `{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}`

// A template that refuses system messages on purpose is still the model's
// template: the refusal reaches the caller.
func TestGemmaRefusesSystem(t *testing.T) {
	tmpl, err := New(gemmaTemplate, "<bos>", "<eos>")
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Family() != FamilyJinja {
		t.Fatalf("Family() = %q (%s), want jinja", tmpl.Family(), tmpl.Fallback())
	}
	got, err := tmpl.Render(conversation[1:], true)
	if err != nil {
		t.Fatal(err)
	}
	want := "<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\nHi there.<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"
	if got != want {
		t.Errorf("Render =\n%q\nwant\n%q", got, want)
	}
	if _, err := tmpl.Render(conversation, true); err == nil || !strings.Contains(err.Error(), "System role not supported") {
		t.Errorf("Render(with system) error = %v, want the template's refusal", err)
	}
}

// The helpers Hugging Face templates lean on: string methods, filters,
// namespace, loop variables, slicing, tests, inline if; trim_blocks eats the
// newline after "{%- endfor %}".
func TestTemplateFeatures(t *testing.T) {
	src := `{%- set ns = namespace(sys=false) -%}
{%- for m in messages -%}
{%- if m.role.startswith('sys') %}{% set ns.sys = true %}{% endif -%}
{{ loop.index }}/{{ loop.length }} {{ m.role.title() }} {{ m['role'] | upper }}: {{ m.content.strip() | replace('2+2', 'two plus two') }}{{ '' if loop.last else '|' }}
{%- endfor %}
sys={{ ns.sys }} last={{ messages[-1].content }} n={{ messages | length }} first2={{ messages[:2] | map(attribute='role') | join(',') }}
{%- if add_generation_prompt is defined and add_generation_prompt %} gen{% endif %}{{ eos_token }}`
	tmpl, err := New(src, "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Family() != FamilyJinja {
		t.Fatalf("Family() = %q: %s", tmpl.Family(), tmpl.Fallback())
	}
	got, err := tmpl.Render(conversation, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "1/4 System SYSTEM: You are a friendly bot.|2/4 User USER: Hello!|3/4 Assistant ASSISTANT: Hi there.|4/4 User USER: What is two plus two?sys=True last=What is 2+2? n=4 first2=system,user gen</s>"
	if got != want {
		t.Errorf("Render =\n%q\nwant\n%q", got, want)
	}
}
