// Package doclinks holds the test that keeps the repository's Markdown
// self-contained: every relative link resolves to a file in the repository.
package doclinks
