"""A simulated Sample Platform: seeded CI history with known ground truth, served over HTTP.

``scenario`` generates the history (and what is really flaky or failing),
``server`` serves it on 127.0.0.1 following the platform's API contract and
its observed deviations, with switches that inject faults.
"""

from reporter.simulator.scenario import PROFILES, Profile, Scenario, generate
from reporter.simulator.server import Faults, SimulatedPlatform

__all__ = ["PROFILES", "Faults", "Profile", "Scenario", "SimulatedPlatform", "generate"]
