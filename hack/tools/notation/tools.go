//go:build tools

// Package tools pins the notation CLI in this module's go.mod.
package tools

import _ "github.com/notaryproject/notation/cmd/notation"
