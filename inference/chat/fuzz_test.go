package chat

import "testing"

// FuzzNew: a chat template read from a model file never panics New or
// Render, and New always yields a usable Template.
func FuzzNew(f *testing.F) {
	for _, s := range []string{tinyLlamaTemplate, qwen2Template, llama3Template, llama2Template, gemmaTemplate, "", "{{", "{% for %}", "{{ messages[0].content.strip() }}", "{% set x = messages[1:] %}{{ x|length }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4096 {
			return
		}
		tmpl, err := New(src, "<s>", "</s>", "<|im_start|>")
		if err != nil || tmpl == nil {
			t.Fatalf("New(%q) = %v, %v", src, tmpl, err)
		}
		tmpl.Render(conversation, true)
		tmpl.Render(nil, false)
	})
}
