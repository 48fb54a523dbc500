"""A safe parser for formulas typed on the command line, such as "(w - 2) ** 2" (used by `descend` and `graph`).

The text is read with Python's `ast` and every node is checked against a short whitelist: numbers, variable
names, unary − and +, binary + − * / ** and calls of the functions in FUNCTIONS. Anything else (attribute access,
subscripts, lambdas, strings, comparisons, unknown functions) is refused with an ExpressionError naming the part.
The text is never given to eval, exec or compile: the checked tree is turned into a small Python function that
only ever applies Value operators, so `(w - 2) ** 2` builds exactly the graph that Python code would.

>>> from tinygrad_gd import Value
>>> loss = parse("(w - 2) ** 2")
>>> loss.variables
('w',)
>>> w = Value(5.0, requires_grad=True)
>>> out = loss(w=w)
>>> out.item(), out.op
(9.0, '**2')
"""

import ast
import builtins
import keyword
import re
import unicodedata

import numpy as np

from .value import Value

FUNCTIONS = ("exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu")  # applied as Value methods
MAX_LENGTH = 2000

_BINARY = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
           ast.Div: lambda x, y: x / y, ast.Pow: lambda x, y: x ** y}
_UNARY = {ast.USub: lambda x: -x, ast.UAdd: lambda x: x}
_WHAT = {ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
         ast.Compare: "comparison", ast.BoolOp: "boolean operator", ast.IfExp: "conditional expression",
         ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set", ast.Starred: "starred argument",
         ast.ListComp: "comprehension", ast.GeneratorExp: "comprehension", ast.NamedExpr: "assignment",
         ast.JoinedStr: "f-string", ast.Await: "await"}


class ExpressionError(ValueError):
    """The formula is not allowed or not understood; the message names the offending part."""


class Expression:
    """A checked formula: `variables` in order of first appearance, `source` as typed; call it with values."""

    def __init__(self, source, variables, evaluate):
        self.source, self.variables, self._evaluate = source, variables, evaluate

    def __call__(self, **values):
        missing = [name for name in self.variables if name not in values]
        extra = [name for name in values if name not in self.variables]
        if missing or extra:
            problem = f"missing a value for {missing[0]!r}" if missing else f"unknown variable {extra[0]!r}"
            raise ExpressionError(f"{problem}: {self.source!r} uses {', '.join(self.variables) or 'no variables'}")
        values = {k: v if isinstance(v, Value) else Value(v) for k, v in values.items()}
        try:
            out = self._evaluate(values)
        except RecursionError:
            raise ExpressionError(f"expression nested too deeply to evaluate: {self.source[:40]!r}...") from None
        return out if isinstance(out, Value) else Value(out)  # a formula without variables is a constant

    def __repr__(self):
        return f"parse({self.source!r})"


def parse(source: str) -> Expression:
    """Check `source` against the whitelist and return an Expression; raise ExpressionError if it is refused."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression too long: {len(source)} characters (at most {MAX_LENGTH})")
    try:
        tree = ast.parse(source.strip(), mode="eval")
        variables = []
        evaluate = _compile(tree.body, source.strip(), variables)
    except SyntaxError as error:
        raise ExpressionError(f"cannot read {source!r}: {error.msg} (at column {error.offset})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"expression nested too deeply: {source[:40]!r}...") from None
    return Expression(source, tuple(variables), evaluate)


def _compile(node, source, variables):
    """Turn one checked node into a function of the variables' values (a dict); refuse anything unlisted."""
    part = ast.get_source_segment(source, node) or type(node).__name__
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            kind = "a string" if isinstance(node.value, (str, bytes)) else f"the constant {node.value!r}"
            raise ExpressionError(f"not allowed in an expression: {kind} {part!r}; only numbers are")
        number = node.value if type(node.value) is float or abs(node.value) < 2 ** 53 else _to_float(node.value)
        return lambda values: number
    if isinstance(node, ast.Name):
        name = node.id
        if name in FUNCTIONS:
            raise ExpressionError(f"'{name}' is a function: call it, as in {name}(w)")
        if name.startswith("_") or keyword.iskeyword(name) or hasattr(builtins, name):
            raise ExpressionError(f"not allowed in an expression: the name {name!r} (a Python built-in or a "
                                  f"name starting with '_'); choose another variable name")
        if name not in variables:
            variables.append(name)
        return lambda values: values[name]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        operand, apply = _compile(node.operand, source, variables), _UNARY[type(node.op)]
        return lambda values: apply(operand(values))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _compile(node.left, source, variables), _compile(node.right, source, variables)
        return _binary(_BINARY[type(node.op)], left, right)
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            what = f"unknown function {name!r}" if name else f"call of {ast.get_source_segment(source, node.func)!r}"
            raise ExpressionError(f"not allowed in an expression: {what} in {part!r} "
                                  f"(allowed functions: {', '.join(FUNCTIONS)})")
        if len(node.args) != 1 or node.keywords:
            raise ExpressionError(f"{name}() takes exactly one argument, as in {name}(w): got {part!r}")
        argument = _compile(node.args[0], source, variables)
        return lambda values: getattr(_as_value(argument(values)), name)()
    what = _WHAT.get(type(node), type(node).__name__.lower())
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        what = f"the operator {type(node.op).__name__}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):  # w^2 is exclusive or in Python
        power = re.sub(r"\s*\^\s*", " ** ", source)  # every ^ meant a power: "^" binds looser than + and *
        raise ExpressionError(f"not allowed in an expression: ^ in {part!r} (in Python ^ is exclusive or, not a "
                              f"power): write {power}")
    raise ExpressionError(f"not allowed in an expression: {what} {part!r}")


def _binary(operation, left, right):
    def evaluate(values):
        x, y = left(values), right(values)
        if isinstance(x, Value) or isinstance(y, Value):
            return operation(x, y)
        with np.errstate(all="ignore"):  # two constants: NumPy floats give inf, not a hang on 9 ** 9 ** 9
            return float(operation(np.float64(x), np.float64(y)))
    return evaluate


def _as_value(x):
    return x if isinstance(x, Value) else Value(x)


def _to_float(number):
    try:
        return float(number)
    except OverflowError:
        return float("inf") if number > 0 else float("-inf")


def parse_assignments(assignments) -> dict:
    """Read ["w=5", "y=-1.5"] into {"w": 5.0, "y": -1.5}; raise ExpressionError naming the bad item."""
    values = {}
    for item in assignments:
        name, sep, number = item.partition("=")
        name = unicodedata.normalize("NFKC", name.strip())  # as Python reads the formula's names: ｗ is w
        if not sep or not name.isidentifier() or keyword.iskeyword(name):
            raise ExpressionError(f"expected NAME=NUMBER, such as w=5, but got {item!r}")
        try:
            value = float(number)
        except ValueError:
            raise ExpressionError(f"not a number: {number.strip()!r} in {item!r}") from None
        if not np.isfinite(value):
            raise ExpressionError(f"a starting value must be finite, got {item!r}")
        if name in values:
            raise ExpressionError(f"{name!r} is given twice ({item!r})")
        values[name] = value
    return values
