// Validates a CycloneDX 1.6 JSON BOM against the official schema, using the
// validator of @cyclonedx/cyclonedx-library (strict: no properties beyond
// the schema's). Usage: node validate.mjs FILE
// Exit 0: valid. Exit 1: invalid, the schema errors on stderr. Exit 2: usage
// or I/O error.
import { readFile } from 'node:fs/promises'
import { Spec, Validation } from '@cyclonedx/cyclonedx-library'

const file = process.argv[2]
if (!file) {
  console.error('usage: node validate.mjs FILE')
  process.exit(2)
}

let text
try {
  text = await readFile(file, 'utf8')
} catch (err) {
  console.error(`read ${file}: ${err.message}`)
  process.exit(2)
}

let doc
try {
  doc = JSON.parse(text)
} catch (err) {
  console.error(`${file} is not JSON: ${err.message}`)
  process.exit(1)
}
if (doc.bomFormat !== 'CycloneDX' || doc.specVersion !== '1.6') {
  console.error(`${file}: bomFormat ${doc.bomFormat} specVersion ${doc.specVersion}, want CycloneDX 1.6`)
  process.exit(1)
}

const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6)
const errors = await validator.validate(text)
if (errors) {
  console.error(`${file} does not validate against the CycloneDX 1.6 JSON schema:`)
  console.error(JSON.stringify(errors, null, 2))
  process.exit(1)
}
console.log(`${file}: valid CycloneDX 1.6`)
