package bom

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SpecVersion is the CycloneDX version Build writes.
const SpecVersion = "1.6"

// The CycloneDX 1.6 JSON shapes Build writes; omitempty keeps optional
// fields out, as the schema forbids empty strings in some of them.
type document struct {
	Schema       string       `json:"$schema"`
	BOMFormat    string       `json:"bomFormat"`
	SpecVersion  string       `json:"specVersion"`
	SerialNumber string       `json:"serialNumber"`
	Version      int          `json:"version"`
	Metadata     metadata     `json:"metadata"`
	Components   []component  `json:"components"`
	Dependencies []dependency `json:"dependencies,omitempty"`
}

type metadata struct {
	Timestamp  string     `json:"timestamp"`
	Tools      tools      `json:"tools"`
	Properties []property `json:"properties,omitempty"`
}

type tools struct {
	Components []component `json:"components"`
}

type component struct {
	Type               string        `json:"type"`
	BOMRef             string        `json:"bom-ref,omitempty"`
	Group              string        `json:"group,omitempty"`
	Name               string        `json:"name"`
	Version            string        `json:"version,omitempty"`
	Description        string        `json:"description,omitempty"`
	Hashes             []hash        `json:"hashes,omitempty"`
	Licenses           []licenseItem `json:"licenses,omitempty"`
	Purl               string        `json:"purl,omitempty"`
	ExternalReferences []extRef      `json:"externalReferences,omitempty"`
	ModelCard          *modelCard    `json:"modelCard,omitempty"`
	Data               []dataItem    `json:"data,omitempty"`
	Properties         []property    `json:"properties,omitempty"`
	Tags               []string      `json:"tags,omitempty"`
}

type hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type licenseItem struct {
	License licenseBody `json:"license"`
}

type licenseBody struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	URL  string `json:"url,omitempty"`
}

type extRef struct {
	Type    string `json:"type"`
	URL     string `json:"url"`
	Comment string `json:"comment,omitempty"`
}

type modelCard struct {
	ModelParameters *modelParameters `json:"modelParameters,omitempty"`
	Properties      []property       `json:"properties,omitempty"`
}

type modelParameters struct {
	Task               string     `json:"task,omitempty"`
	ArchitectureFamily string     `json:"architectureFamily,omitempty"`
	ModelArchitecture  string     `json:"modelArchitecture,omitempty"`
	Datasets           []dataItem `json:"datasets,omitempty"`
}

type dataItem struct {
	Type     string        `json:"type"`
	Name     string        `json:"name,omitempty"`
	Contents *dataContents `json:"contents,omitempty"`
}

type dataContents struct {
	URL string `json:"url,omitempty"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type dependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn,omitempty"`
}

// hubURL is where Hub names resolve, for dataset and base-model links.
const hubURL = "https://huggingface.co/"

// Build writes the CycloneDX 1.6 JSON ML-BOM of in.
func Build(in Input) ([]byte, error) {
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("bom input: %w", err)
	}
	if in.Time.IsZero() {
		in.Time = time.Now()
	}
	if in.ToolVersion == "" {
		in.ToolVersion = "dev"
	}
	main := mainComponent(in)
	doc := document{
		Schema:       "http://cyclonedx.org/schema/bom-" + SpecVersion + ".schema.json",
		BOMFormat:    "CycloneDX",
		SpecVersion:  SpecVersion,
		SerialNumber: serial(in),
		Version:      1,
		Metadata: metadata{
			Timestamp: in.Time.UTC().Format(time.RFC3339),
			Tools: tools{Components: []component{{Type: "application", Group: "cairnhub", Name: "cairn",
				Version: in.ToolVersion, ExternalReferences: []extRef{{Type: "vcs", URL: "https://github.com/cairnhub/cairn"}}}}},
		},
		Components: []component{main},
	}
	dep := dependency{Ref: main.BOMRef}
	for _, f := range sortedFiles(in.Files) {
		c := fileComponent(f)
		doc.Components = append(doc.Components, c)
		dep.DependsOn = append(dep.DependsOn, c.BOMRef)
	}
	doc.Dependencies = []dependency{dep}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode bom: %w", err)
	}
	return append(out, '\n'), nil
}

// serial is a name-based (version 5 layout) UUID of the repo, revision and
// time, so the same BOM built twice carries the same serial number.
func serial(in Input) string {
	h := sha256.Sum256([]byte(in.Repo + "@" + in.Revision + "@" + in.Time.UTC().Format(time.RFC3339Nano)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func sortedFiles(files []File) []File {
	out := append([]File(nil), files...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func mainComponent(in Input) component {
	org, name, _ := strings.Cut(in.Repo, "/")
	card := CardFromMap(in.Card)
	c := component{
		Type:     "machine-learning-model",
		BOMRef:   "model:" + in.Repo + "@" + in.Revision,
		Group:    org,
		Name:     name,
		Version:  in.Revision,
		Purl:     "pkg:huggingface/" + url.PathEscape(org) + "/" + url.PathEscape(name) + "@" + url.PathEscape(in.Revision),
		Licenses: licenses(in.Licenses, card),
		Tags:     uniq(card.Tags),
	}
	if in.Kind == "dataset" {
		c.Type, c.BOMRef = "data", "dataset:"+in.Repo+"@"+in.Revision
		c.Purl = ""
		c.Data = []dataItem{{Type: "dataset", Name: in.Repo}}
	} else {
		c.ModelCard = buildModelCard(in, card)
	}
	c.ExternalReferences = references(in)
	c.Properties = append(c.Properties, upstreamProps(in.Upstream)...)
	c.Properties = append(c.Properties, scanProps(in.Scan)...)
	c.Properties = append(c.Properties, signatureProps(in.Signatures)...)
	c.Properties = append(c.Properties, holderProps(in.Holders)...)
	return c
}

func buildModelCard(in Input, card Card) *modelCard {
	mp := &modelParameters{Task: card.PipelineTag}
	if g := in.GGUF; g != nil {
		mp.ArchitectureFamily = g.Architecture
	}
	if c := in.Config; c != nil {
		if mp.ArchitectureFamily == "" {
			mp.ArchitectureFamily = c.ModelType
		}
		if len(c.Architectures) > 0 {
			mp.ModelArchitecture = c.Architectures[0]
		}
	}
	for _, d := range uniq(card.Datasets) {
		mp.Datasets = append(mp.Datasets, dataItem{Type: "dataset", Name: d,
			Contents: &dataContents{URL: hubURL + "datasets/" + d}})
	}
	mc := &modelCard{ModelParameters: mp}
	add := func(name, value string) {
		if value != "" {
			mc.Properties = append(mc.Properties, property{Name: name, Value: value})
		}
	}
	if g := in.GGUF; g != nil {
		add("cairn:model:quantization", g.FileType)
		add("cairn:model:source", "gguf:"+g.File)
		if g.ParameterCount > 0 {
			add("cairn:model:parameter-count", strconv.FormatInt(g.ParameterCount, 10))
		}
		if g.ContextLength > 0 {
			add("cairn:model:context-length", strconv.FormatInt(g.ContextLength, 10))
		}
		add("cairn:model:name", g.Name)
	}
	if c := in.Config; c != nil {
		if in.GGUF == nil || in.GGUF.FileType == "" {
			add("cairn:model:quantization", c.Quantization)
		}
		add("cairn:model:torch-dtype", c.TorchDType)
	}
	for _, b := range uniq(card.BaseModel) {
		add("cairn:model:base-model", b)
	}
	for _, l := range uniq(card.Language) {
		add("cairn:model:language", l)
	}
	add("cairn:model:library", card.LibraryName)
	return mc
}

// licenses merges the given licences with the card's, SPDX ids where known.
func licenses(given []License, card Card) []licenseItem {
	all := append([]License(nil), given...)
	for _, id := range card.License {
		l := License{ID: id, Source: "model card"}
		if strings.EqualFold(id, "other") && card.LicenseName != "" {
			l = License{Name: card.LicenseName, URL: card.LicenseLink, Source: "model card"}
		}
		all = append(all, l)
	}
	var out []licenseItem
	seen := map[string]bool{}
	for _, l := range all {
		var b licenseBody
		if id, ok := SPDXID(l.ID); ok {
			b.ID = id
		} else if b.Name = l.Name; b.Name == "" {
			b.Name = l.ID
		}
		if b.Name == "" && b.ID == "" {
			continue
		}
		if u, err := url.Parse(l.URL); err == nil && u.IsAbs() {
			b.URL = l.URL
		}
		key := b.ID + "\x00" + b.Name
		if !seen[key] {
			seen[key] = true
			out = append(out, licenseItem{License: b})
		}
	}
	return out
}

func references(in Input) []extRef {
	var refs []extRef
	if u := in.Upstream; u != nil && absURL(u.URL) {
		comment := "mirrored from here"
		if !u.MirroredAt.IsZero() {
			comment += " at " + u.MirroredAt.UTC().Format(time.RFC3339)
		}
		refs = append(refs, extRef{Type: "distribution", URL: u.URL, Comment: comment})
	}
	for _, b := range uniq(CardFromMap(in.Card).BaseModel) {
		refs = append(refs, extRef{Type: "other", URL: hubURL + b, Comment: "base model"})
	}
	return refs
}

func absURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Host != ""
}

func upstreamProps(u *Upstream) []property {
	if u == nil {
		return nil
	}
	var p props
	p.add("cairn:upstream:url", u.URL)
	p.add("cairn:upstream:revision", u.Revision)
	if !u.MirroredAt.IsZero() {
		p.add("cairn:upstream:mirrored-at", u.MirroredAt.UTC().Format(time.RFC3339))
	}
	return p
}

func scanProps(s *Scan) []property {
	if s == nil {
		return nil
	}
	var p props
	p.add("cairn:scan:verdict", s.Verdict)
	p.add("cairn:scan:policy", s.Policy)
	p.add("cairn:scan:scanner", s.Scanner)
	if !s.Time.IsZero() {
		p.add("cairn:scan:time", s.Time.UTC().Format(time.RFC3339))
	}
	switch {
	case s.Quarantined:
		p.add("cairn:quarantine:state", "quarantined")
	case s.ReleasedBy != "":
		p.add("cairn:quarantine:state", "released")
	}
	p.add("cairn:quarantine:reason", s.Reason)
	p.add("cairn:quarantine:released-by", s.ReleasedBy)
	return p
}

// signatureProps numbers each signature's properties so that they group.
func signatureProps(sigs []Signature) []property {
	var p props
	for i, s := range sigs {
		pre := fmt.Sprintf("cairn:signature:%d:", i+1)
		p.add(pre+"format", s.Format)
		p.add(pre+"method", s.Method)
		p.add(pre+"signer", s.Signer)
		p.add(pre+"issuer", s.Issuer)
		p.add(pre+"file", s.File)
		p.add(pre+"verified", strconv.FormatBool(s.Verified))
	}
	return p
}

func holderProps(hs []Holder) []property {
	var p props
	var js []string
	for _, h := range hs {
		js = append(js, h.Jurisdiction)
	}
	js = uniq(js)
	sort.Strings(js)
	if len(hs) > 0 {
		p.add("cairn:replica:count", strconv.Itoa(len(hs)))
	}
	for _, j := range js {
		p.add("cairn:replica:jurisdiction", j)
	}
	for _, h := range hs {
		v := h.Peer
		if h.Jurisdiction != "" {
			v += " " + h.Jurisdiction
		}
		p.add("cairn:replica:holder", v)
	}
	return p
}

func fileComponent(f File) component {
	c := component{
		Type:   "file",
		BOMRef: "file:" + f.Path,
		Name:   f.Path,
		Hashes: []hash{{Alg: "SHA-256", Content: strings.ToLower(f.SHA256)}},
	}
	var p props
	if f.Size > 0 {
		p.add("cairn:file:size", strconv.FormatInt(f.Size, 10))
	}
	if f.Scan != nil {
		p.add("cairn:scan:verdict", f.Scan.Verdict)
		for _, x := range f.Scan.Findings {
			p.add("cairn:scan:finding", x)
		}
	}
	c.Properties = p
	return c
}

type props []property

// add skips empty values: a property without a value says nothing.
func (p *props) add(name, value string) {
	if value != "" {
		*p = append(*p, property{Name: name, Value: value})
	}
}

func uniq(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
