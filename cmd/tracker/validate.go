package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/decisiontable"
	"github.com/tracker-dev/tracker/models"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check BPMN models, DMN/YAML decision tables and tracker configs",
		Long: `validate checks each FILE by its extension and prints every problem it finds:
  .bpmn, .xml     BPMN models:    file: element-id (name): message
  .dmn            decision tables: file: element-id: message
  .yaml, .yml     tracker config (and the models and decision table it names),
                  or a YAML decision table (recognised by its hitPolicy/rules keys)
Warnings are printed but do not fail. Exit status 1 when any file has an error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			failed := false
			for _, f := range files {
				if !validateFile(cmd.OutOrStdout(), f) {
					failed = true
				}
			}
			if failed {
				return exitCode(1)
			}
			return nil
		},
	}
}

// validateFile prints problems of one file and reports whether it is free of errors.
func validateFile(w io.Writer, file string) bool {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".bpmn", ".xml":
		return validateModel(w, file)
	case ".dmn":
		return printDecisionProblems(w, file, decisiontable.CheckFile(file))
	case ".yaml", ".yml":
		if looksLikeDecisionTable(file) {
			return printDecisionProblems(w, file, decisiontable.CheckFile(file))
		}
		cfg, err := config.Load(file, os.Environ())
		if err != nil {
			fmt.Fprintln(w, err.Error())
			return false
		}
		ok := true
		for _, m := range cfg.Models {
			ok = validateModel(w, m) && ok
		}
		if cfg.Decisions != "" {
			ok = printDecisionProblems(w, cfg.Decisions, decisiontable.CheckFile(cfg.Decisions)) && ok
		}
		if ok {
			fmt.Fprintf(w, "%s: valid config\n", file)
		}
		return ok
	default:
		fmt.Fprintf(w, "%s: unknown file type: expected .bpmn, .dmn, .yaml or .yml\n", file)
		return false
	}
}

func validateModel(w io.Writer, file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(w, "%s: -: cannot read: %v\n", file, err)
		return false
	}
	defs, problems := models.Parse(file, data, models.Options{})
	for _, p := range problems {
		if p.Warning {
			p.Message = "warning: " + p.Message
		}
		fmt.Fprintln(w, p.String())
	}
	if models.HasErrors(problems) {
		return false
	}
	ids := make([]string, len(defs.Processes))
	for i, p := range defs.Processes {
		ids[i] = p.ID
	}
	fmt.Fprintf(w, "%s: valid model (%s)\n", file, strings.Join(ids, ", "))
	return true
}

func printDecisionProblems(w io.Writer, file string, problems []decisiontable.Problem) bool {
	for _, p := range problems {
		fmt.Fprintln(w, p.String())
	}
	if len(problems) == 0 {
		fmt.Fprintf(w, "%s: valid decision table\n", file)
	}
	return len(problems) == 0
}

// looksLikeDecisionTable tells a YAML decision table from a tracker config.
func looksLikeDecisionTable(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "hitPolicy:") || strings.HasPrefix(line, "rules:") || strings.HasPrefix(line, "decision:") {
			return true
		}
	}
	return false
}

func newDecideCmd() *cobra.Command {
	var input string
	cmd := &cobra.Command{
		Use:   "decide TABLE --input JSON",
		Short: "Evaluate a decision table (DMN or YAML) for one input",
		Long: `decide evaluates TABLE for the JSON object given with --input (or '-' to read stdin)
and prints the matched rules and outputs. For the uncorrelated-events table the inputs
are reason, messageName, correlationKey, source, ageSeconds, instanceState and payload.
Example:
  tracker decide uncorrelated.dmn --input '{"reason":"INSTANCE_ENDED","messageName":"GoodsShipped","ageSeconds":5}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := decisiontable.Load(args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err.Error())
				return exitCode(1)
			}
			in := []byte(input)
			if input == "-" {
				if in, err = io.ReadAll(cmd.InOrStdin()); err != nil {
					return fmt.Errorf("read input from stdin: %w", err)
				}
			}
			out, err := decisiontable.DecideJSON(t, in)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return nil
		},
	}
	cmd.Flags().StringVar(&input, "input", "{}", "input as a JSON object, or - for stdin")
	return cmd
}
