"""``python -m cai_desktop.ui.pages.constitution PROJECT``: the constitution page alone."""

import sys

from cai_desktop.ui.pages.constitution import ConstitutionPage, run_standalone

sys.exit(run_standalone(ConstitutionPage))
