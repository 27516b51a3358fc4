package integration

// The Markdown files of the repository: every relative link leads to a file of the repository.

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	// markdownLink matches [text](target) and [text](target "title"); the target is group 1.
	markdownLink = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// codeSpanPath matches a relative path written as code, `../x` or `./x`, which a reader follows as
	// a link.
	codeSpanPath = regexp.MustCompile("`(\\.\\.?/[^`\\s]+)`")
	// headingAnchor is what GitHub drops from a heading to make its anchor.
	headingAnchor = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// TestMarkdownLinksResolve checks every relative link of every tracked Markdown file (outside fenced
// code blocks): a path must be a tracked file, or a folder holding some, and an anchor into the same
// file one of its headings.
func TestMarkdownLinksResolve(t *testing.T) {
	tracked := trackedFiles(t)
	for file := range tracked {
		if !strings.HasSuffix(file, ".md") {
			continue
		}
		t.Run(file, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(harness.root, filepath.FromSlash(file)))
			if err != nil {
				t.Fatal(err)
			}
			headings, links := markdownLinks(string(text))
			for _, l := range links {
				target, anchor, _ := strings.Cut(l.target, "#")
				switch {
				case strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:"):
					continue
				case target == "":
					if !headings[anchor] {
						t.Errorf("line %d: link to #%s: no such heading in %s", l.line, anchor, file)
					}
					continue
				}
				resolved := path.Join(path.Dir(file), target)
				if !tracked[resolved] && !trackedFolder(tracked, resolved) {
					t.Errorf("line %d: link to %s: %s is not a file of the repository", l.line, l.target, resolved)
				}
			}
		})
	}
}

type mdLink struct {
	line   int
	target string
}

// markdownLinks returns the anchors of a Markdown text's headings, and its relative links and code-span
// paths outside fenced code blocks.
func markdownLinks(text string) (headings map[string]bool, links []mdLink) {
	headings = map[string]bool{}
	inFence := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if h, ok := strings.CutPrefix(line, "#"); ok {
			title := strings.TrimSpace(strings.TrimLeft(h, "#"))
			slug := strings.ReplaceAll(headingAnchor.ReplaceAllString(strings.ToLower(title), ""), " ", "-")
			headings[slug] = true
		}
		for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
			links = append(links, mdLink{n, m[1]})
		}
		for _, m := range codeSpanPath.FindAllStringSubmatch(line, -1) {
			links = append(links, mdLink{n, m[1]})
		}
	}
	return headings, links
}

func TestMarkdownLinks(t *testing.T) {
	text := "# caddy-cognito\n\n## See `it` work: now\n\n[a](docs/x.md#part) and [b](#see-it-work \"title\") " +
		"and `../elsewhere/NOTES.md` and `go test`\n\n```sh\n[not](a-link.md)\n```\n[c](https://example.com)\n"
	headings, links := markdownLinks(text)
	if !headings["caddy-cognito"] || !headings["see-it-work-now"] || len(headings) != 2 {
		t.Errorf("headings = %v, want caddy-cognito and see-it-work-now", headings)
	}
	want := []mdLink{{3, "docs/x.md#part"}, {3, "#see-it-work"}, {3, "../elsewhere/NOTES.md"}, {8, "https://example.com"}}
	if !jsonEqual(links, want) || len(links) != len(want) {
		t.Errorf("links = %+v, want %+v", links, want)
	}
}

// trackedFiles returns the files git tracks in the repository, slash-separated, relative to its root.
func trackedFiles(t *testing.T) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "ls-files", "-z")
	cmd.Dir = harness.root
	out, err := cmd.Output()
	if err != nil {
		missing(t, "this test needs git and a git checkout of the repository: "+err.Error()+". Install git with\n\tsudo apt-get install git")
		return nil
	}
	files := map[string]bool{}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		files[f] = true
	}
	return files
}

// trackedFolder reports whether dir holds a tracked file.
func trackedFolder(tracked map[string]bool, dir string) bool {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for f := range tracked {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return false
}

// nodeScript matches a command that runs a script of a folder with npm packages: node <folder>/<file>.js.
var nodeScript = regexp.MustCompile(`\bnode ((?:examples|integration)/[\w/.-]+)/[\w.-]+\.js\b`)

// TestReadmesInstallBeforeNode: a Markdown file whose code runs a script of a folder with npm packages
// installs them first (npm ci --prefix <folder>, in that block or an earlier one), so a reader who
// copies it does not meet "Cannot find module".
func TestReadmesInstallBeforeNode(t *testing.T) {
	for file := range trackedFiles(t) {
		if !strings.HasSuffix(file, ".md") {
			continue
		}
		text, err := os.ReadFile(filepath.Join(harness.root, filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		earlier := ""
		for i, block := range fencedBlocks(string(text)) {
			for _, m := range nodeScript.FindAllStringSubmatchIndex(block, -1) {
				folder := block[m[2]:m[3]]
				if _, err := os.Stat(filepath.Join(harness.root, filepath.FromSlash(folder), "package.json")); err != nil {
					continue
				}
				if !strings.Contains(earlier+block[:m[0]], "npm ci --prefix "+folder) {
					t.Errorf("%s, code block %d: runs %s without `npm ci --prefix %s` before it", file, i+1, block[m[0]:m[1]], folder)
				}
			}
			earlier += block
		}
	}
}

// fencedBlocks returns the contents of the fenced code blocks of a Markdown text.
func fencedBlocks(text string) []string {
	var blocks []string
	var cur strings.Builder
	in := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if in {
				blocks = append(blocks, cur.String())
				cur.Reset()
			}
			in = !in
			continue
		}
		if in {
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// TestLicenseAndNotice: the repository is under the Apache License 2.0, as its package.json files say, and
// NOTICE names every third-party folder that ships a license of its own.
func TestLicenseAndNotice(t *testing.T) {
	tracked := trackedFiles(t)
	license, err := os.ReadFile(filepath.Join(harness.root, "LICENSE"))
	if err != nil || !strings.Contains(string(license), "Apache License\n                           Version 2.0, January 2004") ||
		!strings.Contains(string(license), "END OF TERMS AND CONDITIONS") {
		t.Errorf("LICENSE (%v) is not the full text of the Apache License 2.0", err)
	}
	notice, err := os.ReadFile(filepath.Join(harness.root, "NOTICE"))
	if err != nil || !strings.HasPrefix(string(notice), "caddy-cognito\nCopyright ") {
		t.Fatalf("NOTICE (%v) does not start with the project's name and copyright", err)
	}
	for f := range tracked {
		if name := path.Base(f); f != "LICENSE" && name == "LICENSE" {
			if dir := path.Dir(f) + "/"; !strings.Contains(string(notice), dir) {
				t.Errorf("%s ships its own license, and NOTICE does not name %s", f, dir)
			}
		}
		if path.Base(f) == "package.json" {
			var manifest struct{ License string }
			if err := readJSONFile(filepath.Join(harness.root, filepath.FromSlash(f)), &manifest); err != nil || manifest.License != "Apache-2.0" {
				t.Errorf("%s: license %q (%v), want Apache-2.0 as LICENSE", f, manifest.License, err)
			}
		}
	}
}

// issueReference matches a reference to an issue of the tracker: a TODO naming one, "of issue N", with N
// a number.
var issueReference = regexp.MustCompile(`(?i)\bissue ?#?[0-9]+`)

// TestNoIssueNumbersInTheSource: comments say what the code does and why, not which issue asked for it
// (the tracker is not shipped, and a TODO naming an issue outlives the issue).
func TestNoIssueNumbersInTheSource(t *testing.T) {
	for f := range trackedFiles(t) {
		// The AWS suite is third-party.
		if strings.HasPrefix(f, "testdata/") ||
			strings.HasSuffix(f, "package-lock.json") {
			continue
		}
		text, err := os.ReadFile(filepath.Join(harness.root, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(text), "\n") {
			if m := issueReference.FindString(line); m != "" {
				t.Errorf("%s:%d: %q refers to an issue: %s", f, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}
