"""The financial calculator: quantities with exact units, a formula catalogue, binding.

``quantities`` reads numbers with their units, labels, roles and periods; ``formulas`` holds the
catalogue, the safe evaluator and :class:`Calculation`; ``binding`` turns a word problem into a
formula with bound operands or declines; ``check`` re-verifies a calculation against its text.
"""
