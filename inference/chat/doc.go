// Package chat turns a conversation into the prompt text a model was trained
// on, from the Jinja chat template its GGUF file carries
// (tokenizer.chat_template).
//
// Words used in this package:
//
//   - message: one turn of the conversation, a role ("system", "user",
//     "assistant", or any other the template understands) and its content.
//   - template: Hugging Face chat-template Jinja source, rendered with the
//     variables Hugging Face's apply_chat_template passes: messages (a list
//     of {"role", "content"}), add_generation_prompt, bos_token and
//     eos_token, with Jinja's trim_blocks and lstrip_blocks on.
//   - generation prompt: the text that opens the assistant's turn
//     ("<|im_start|>assistant\n"), added when the caller asks for a reply.
//   - family: a known prompt layout, used when the model's template is
//     missing or cannot be used: FamilyChatML, FamilyLlama3, FamilyLlama2,
//     FamilyZephyr, or FamilyPlain ("role: content" lines).
//
// Fallback. When the template is empty, fails to compile, or fails on a
// trial conversation (an engine limitation, not a conversation problem), New
// picks a family by looking for its markers ("<|im_start|>",
// "<|start_header_id|>", "[INST]", "<|user|>") in the template text, then in
// the vocabulary the caller passes, and otherwise uses FamilyPlain, which any
// model can at least continue. Template.Fallback says why the model's own
// template is not used, so a server can log it once. Errors the template
// raises on purpose (raise_exception, e.g. roles that do not alternate) are
// returned by Render, not papered over.
//
// Rendered text may begin with the BOS token's text (Llama 2 and 3 templates
// write bos_token themselves). Tokenize it with special-token parsing on and
// without adding another BOS when it already starts with one, as llama.cpp
// does.
package chat
