// Validates deploy/compose.yaml as Docker Compose would load it: compose-go (the library Docker Compose is built
// on) checks it against the Compose Specification's JSON schema, resolves anchors, merges and interpolation, and
// normalises it. Prints each service's environment (names and values) as JSON for the tests to check.
//
//	go run ./deploy/validate deploy/compose.yaml   (secrets the file needs come from the environment)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: validate <compose.yaml>")
		os.Exit(2)
	}
	path, err := filepath.Abs(os.Args[1])
	if err != nil {
		fail(err)
	}
	options, err := cli.NewProjectOptions(
		[]string{path},
		cli.WithOsEnv,
		cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	environments := map[string]map[string]string{}
	for name, service := range project.Services {
		values := map[string]string{}
		for key, value := range service.Environment {
			if value != nil {
				values[key] = *value
			}
		}
		environments[name] = values
	}
	out, err := json.MarshalIndent(map[string]any{"name": project.Name, "services": environments}, "", "  ")
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "invalid:", err)
	os.Exit(1)
}
