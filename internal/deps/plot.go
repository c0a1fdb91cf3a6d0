package deps
import _ "gonum.org/v1/plot"
