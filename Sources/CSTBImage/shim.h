// Debian's libstb-dev: the stb single-file libraries compiled into libstb.so, so only the
// declarations are included here (no STB_IMAGE_IMPLEMENTATION).
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>
