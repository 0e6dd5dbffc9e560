"""GP building blocks shared by the strategies and the predictors: kernels on the simplex and
over fidelities, and mean functions."""
