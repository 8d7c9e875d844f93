package chat

import (
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Family is a known prompt layout.
type Family string

// Families Render can produce without a Jinja template.
const (
	FamilyJinja  Family = "jinja"  // the model's own template
	FamilyChatML Family = "chatml" // <|im_start|>role\ncontent<|im_end|>\n (Qwen2, SmolLM, ...)
	FamilyLlama3 Family = "llama3" // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
	FamilyLlama2 Family = "llama2" // <s>[INST] <<SYS>>...<</SYS>> user [/INST] answer </s>
	FamilyZephyr Family = "zephyr" // <|role|>\ncontent</s>\n (Zephyr, TinyLlama chat)
	FamilyPlain  Family = "plain"  // role: content\n
)

// MaxTemplateSize bounds the template source New accepts; real chat templates
// are a few KiB, the largest (tool-calling ones) tens of KiB.
const MaxTemplateSize = 1 << 20

// Template renders conversations for one model. Safe for concurrent use.
type Template struct {
	family   Family
	jinja    *jinja.Template
	bos, eos string
	reason   string
}

// New prepares the chat template source (tokenizer.chat_template) with the
// model's BOS and EOS token texts. When the template is empty or unusable it
// falls back to a family detected from the template text or from vocab (the
// vocabulary's token texts, optional); Fallback reports why. New fails only
// when the source is larger than MaxTemplateSize.
func New(template, bos, eos string, vocab ...string) (*Template, error) {
	if len(template) > MaxTemplateSize {
		return nil, fmt.Errorf("chat: template of %d bytes exceeds %d", len(template), MaxTemplateSize)
	}
	t := &Template{bos: bos, eos: eos}
	if strings.TrimSpace(template) == "" {
		t.family = detect(template, vocab)
		t.reason = fmt.Sprintf("model has no chat template; using the %s layout", t.family)
		return t, nil
	}
	jt, err := compile(template)
	if err == nil {
		t.family, t.jinja = FamilyJinja, jt
		// A trial render catches constructs the engine cannot run; a
		// template that raises on purpose does so on bad conversations,
		// not on this one.
		_, err = t.Render([]Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}, {Role: "assistant", Content: "a"}, {Role: "user", Content: "u"}}, true)
		if err != nil {
			_, err2 := t.Render([]Message{{Role: "user", Content: "u"}}, true)
			if err2 == nil {
				err = nil // the template only refuses system messages
			}
		}
		if err == nil {
			return t, nil
		}
		t.jinja = nil
		t.family = detect(template, vocab)
		t.reason = fmt.Sprintf("chat template fails on a trial conversation (%v); using the %s layout", err, t.family)
		return t, nil
	}
	t.family = detect(template, vocab)
	t.reason = fmt.Sprintf("chat template does not compile (%v); using the %s layout", err, t.family)
	return t, nil
}

// NewFamily returns a Template that renders the given family's layout.
func NewFamily(f Family, bos, eos string) (*Template, error) {
	switch f {
	case FamilyChatML, FamilyLlama3, FamilyLlama2, FamilyZephyr, FamilyPlain:
		return &Template{family: f, bos: bos, eos: eos}, nil
	}
	return nil, fmt.Errorf("chat: unknown family %q", f)
}

// Family returns the layout in use: FamilyJinja for the model's template.
func (t *Template) Family() Family { return t.family }

// Fallback returns why the model's template is not used, "" when it is.
func (t *Template) Fallback() string { return t.reason }

// detect picks a family from markers in the template text, then in the
// vocabulary.
func detect(template string, vocab []string) Family {
	markers := []struct {
		text string
		f    Family
	}{
		{"<|im_start|>", FamilyChatML},
		{"<|start_header_id|>", FamilyLlama3},
		{"[INST]", FamilyLlama2},
		{"<|user|>", FamilyZephyr},
	}
	for _, m := range markers {
		if strings.Contains(template, m.text) {
			return m.f
		}
	}
	have := make(map[string]bool, len(markers))
	for _, v := range vocab {
		for _, m := range markers {
			if v == m.text {
				have[v] = true
			}
		}
	}
	for _, m := range markers {
		if have[m.text] {
			return m.f
		}
	}
	return FamilyPlain
}

// Render returns the prompt for msgs; with addGenerationPrompt it ends with
// the opening of the assistant's turn. Errors the template raises
// (raise_exception) are returned with its message.
func (t *Template) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	if t.jinja != nil {
		list := make([]jinja.Value, len(msgs))
		for i, m := range msgs {
			d := jinja.NewDict()
			d.AsDict().Set("role", jinja.NewString(m.Role))
			d.AsDict().Set("content", jinja.NewString(m.Content))
			list[i] = d
		}
		out, err := render(t.jinja, map[string]jinja.Value{
			"messages":              jinja.NewList(list),
			"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
			"bos_token":             jinja.NewString(t.bos),
			"eos_token":             jinja.NewString(t.eos),
		})
		if err != nil {
			return "", fmt.Errorf("chat: template: %w", err)
		}
		return out, nil
	}
	var sb strings.Builder
	switch t.family {
	case FamilyChatML:
		for _, m := range msgs {
			sb.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		}
		if addGenerationPrompt {
			sb.WriteString("<|im_start|>assistant\n")
		}
	case FamilyLlama3:
		sb.WriteString(t.bos)
		for _, m := range msgs {
			sb.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + strings.TrimSpace(m.Content) + "<|eot_id|>")
		}
		if addGenerationPrompt {
			sb.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
		}
	case FamilyLlama2:
		// Meta's layout: the system prompt joins the first user turn; a
		// generation prompt is implicit after "[/INST]".
		system := ""
		for _, m := range msgs {
			switch m.Role {
			case "system":
				system += strings.TrimSpace(m.Content)
			case "assistant":
				sb.WriteString(" " + strings.TrimSpace(m.Content) + " " + t.eos)
			default:
				c := strings.TrimSpace(m.Content)
				if system != "" {
					c = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + c
					system = ""
				}
				sb.WriteString(t.bos + "[INST] " + c + " [/INST]")
			}
		}
		if system != "" { // only a system message
			sb.WriteString(t.bos + "[INST] <<SYS>>\n" + system + "\n<</SYS>>\n\n [/INST]")
		}
	case FamilyZephyr:
		for _, m := range msgs {
			sb.WriteString("<|" + m.Role + "|>\n" + m.Content + t.eos + "\n")
		}
		if addGenerationPrompt {
			sb.WriteString("<|assistant|>\n")
		}
	default:
		for _, m := range msgs {
			sb.WriteString(m.Role + ": " + m.Content + "\n")
		}
		if addGenerationPrompt {
			sb.WriteString("assistant:")
		}
	}
	return sb.String(), nil
}

// compile and render keep a panic inside the template engine (the template
// comes from a downloaded file) from taking the process down.
func compile(src string) (t *jinja.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("template engine panicked: %v", r)
		}
	}()
	return jinja.Compile(src)
}

func render(t *jinja.Template, data map[string]jinja.Value) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("template engine panicked: %v", r)
		}
	}()
	return t.RenderValues(data)
}
