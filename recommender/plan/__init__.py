"""Decide what to measure: probability of being best, value of information, measuring cost, sweep files.

- :mod:`recommender.plan.variance`: how much error shared components carry (from CV residuals);
- :mod:`recommender.plan.joint`: joint predictive of energy, time, accuracy, conditionable on new cells;
- :mod:`recommender.plan.problem`: the ranking's objective and constraints as arrays;
- :mod:`recommender.plan.probability`: probability of being best / meeting each constraint;
- :mod:`recommender.plan.voi`: expected value of measuring a cell;
- :mod:`recommender.plan.cost`: queries and GPU-hours a measurement needs;
- :mod:`recommender.plan.planner`: ``eai plan`` (greedy under a budget) and its result;
- :mod:`recommender.plan.sweep_writer`: sweep files ``eai profile --sweep`` runs.
"""
