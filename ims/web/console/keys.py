"""keys pages."""

from ims.web.console.routing import module_router

router = module_router()
