package decisiontable

import "errors"

func asEvalError(err error, target **EvalError) bool { return errors.As(err, target) }
